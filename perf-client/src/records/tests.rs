//! Hand-built records for every record type and every sample_type bit.

use super::bits::{branch, read_format as rf, regs_abi, sample as st};
use super::*;

/// Builds one record: header, then fields appended in order; `build` fills in the size.
struct B {
    v: Vec<u8>,
}

impl B {
    fn new(rtype: RecordType, misc: u16) -> Self {
        let mut v = Vec::new();
        v.extend_from_slice(&rtype.0.to_ne_bytes());
        v.extend_from_slice(&misc.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        B { v }
    }
    fn u64(mut self, x: u64) -> Self {
        self.v.extend_from_slice(&x.to_ne_bytes());
        self
    }
    fn u32(mut self, x: u32) -> Self {
        self.v.extend_from_slice(&x.to_ne_bytes());
        self
    }
    fn u16(mut self, x: u16) -> Self {
        self.v.extend_from_slice(&x.to_ne_bytes());
        self
    }
    fn u8(mut self, x: u8) -> Self {
        self.v.push(x);
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.v.extend_from_slice(b);
        self
    }
    /// A NUL-terminated string padded to 8 bytes, as the kernel writes them.
    fn cstr(mut self, s: &str) -> Self {
        self.v.extend_from_slice(s.as_bytes());
        self.v.push(0);
        while !self.v.len().is_multiple_of(8) {
            self.v.push(0);
        }
        self
    }
    fn build(mut self) -> Vec<u8> {
        let size = u16::try_from(self.v.len()).unwrap();
        self.v[6..8].copy_from_slice(&size.to_ne_bytes());
        self.v
    }
}

fn ctx(format: EventFormat) -> ParseContext {
    ParseContext::single(format).unwrap()
}

fn fmt(sample_type: u64) -> EventFormat {
    EventFormat {
        sample_type,
        ..Default::default()
    }
}

fn sample_of(ctx: &ParseContext, rec: &[u8]) -> Sample<'static> {
    let parsed = ctx.parse(rec).unwrap();
    match parsed.record {
        Record::Sample(s) => {
            // Re-own the borrowed slices so the test can return it.
            let s: Sample<'_> = *s;
            Sample {
                raw: s.raw.map(|r| &*Box::leak(r.to_vec().into_boxed_slice())),
                aux: s.aux.map(|r| &*Box::leak(r.to_vec().into_boxed_slice())),
                stack_user: s.stack_user.map(|u| StackUser {
                    data: Box::leak(u.data.to_vec().into_boxed_slice()),
                    dyn_size: u.dyn_size,
                }),
                identifier: s.identifier,
                ip: s.ip,
                pid: s.pid,
                tid: s.tid,
                time: s.time,
                addr: s.addr,
                id: s.id,
                stream_id: s.stream_id,
                cpu: s.cpu,
                period: s.period,
                read: s.read,
                callchain: s.callchain,
                branch_stack: s.branch_stack,
                regs_user: s.regs_user,
                weight: s.weight,
                data_src: s.data_src,
                transaction: s.transaction,
                regs_intr: s.regs_intr,
                phys_addr: s.phys_addr,
                cgroup: s.cgroup,
                data_page_size: s.data_page_size,
                code_page_size: s.code_page_size,
            }
        }
        other => panic!("expected a sample, got {other:?}"),
    }
}

#[test]
fn bit_constants_match_the_kernel_bindings() {
    use perf_event_open_sys::bindings as b;
    let pairs: [(u64, u32); 25] = [
        (st::IP, b::PERF_SAMPLE_IP),
        (st::TID, b::PERF_SAMPLE_TID),
        (st::TIME, b::PERF_SAMPLE_TIME),
        (st::ADDR, b::PERF_SAMPLE_ADDR),
        (st::READ, b::PERF_SAMPLE_READ),
        (st::CALLCHAIN, b::PERF_SAMPLE_CALLCHAIN),
        (st::ID, b::PERF_SAMPLE_ID),
        (st::CPU, b::PERF_SAMPLE_CPU),
        (st::PERIOD, b::PERF_SAMPLE_PERIOD),
        (st::STREAM_ID, b::PERF_SAMPLE_STREAM_ID),
        (st::RAW, b::PERF_SAMPLE_RAW),
        (st::BRANCH_STACK, b::PERF_SAMPLE_BRANCH_STACK),
        (st::REGS_USER, b::PERF_SAMPLE_REGS_USER),
        (st::STACK_USER, b::PERF_SAMPLE_STACK_USER),
        (st::WEIGHT, b::PERF_SAMPLE_WEIGHT),
        (st::DATA_SRC, b::PERF_SAMPLE_DATA_SRC),
        (st::IDENTIFIER, b::PERF_SAMPLE_IDENTIFIER),
        (st::TRANSACTION, b::PERF_SAMPLE_TRANSACTION),
        (st::REGS_INTR, b::PERF_SAMPLE_REGS_INTR),
        (st::PHYS_ADDR, b::PERF_SAMPLE_PHYS_ADDR),
        (st::AUX, b::PERF_SAMPLE_AUX),
        (st::CGROUP, b::PERF_SAMPLE_CGROUP),
        (st::DATA_PAGE_SIZE, b::PERF_SAMPLE_DATA_PAGE_SIZE),
        (st::CODE_PAGE_SIZE, b::PERF_SAMPLE_CODE_PAGE_SIZE),
        (st::WEIGHT_STRUCT, b::PERF_SAMPLE_WEIGHT_STRUCT),
    ];
    for (ours, theirs) in pairs {
        assert_eq!(ours, u64::from(theirs));
    }
    assert_eq!(st::ALL + 1, u64::from(b::PERF_SAMPLE_MAX));
    assert_eq!(rf::LOST, u64::from(b::PERF_FORMAT_LOST));
    assert_eq!(rf::GROUP, u64::from(b::PERF_FORMAT_GROUP));
    assert_eq!(rf::ALL + 1, u64::from(b::PERF_FORMAT_MAX));
    assert_eq!(branch::HW_INDEX, u64::from(b::PERF_SAMPLE_BRANCH_HW_INDEX));
    assert_eq!(branch::COUNTERS, u64::from(b::PERF_SAMPLE_BRANCH_COUNTERS));
    assert_eq!(
        RecordType::AUX_OUTPUT_HW_ID.0,
        b::PERF_RECORD_AUX_OUTPUT_HW_ID
    );
    assert_eq!(
        RecordType::CALLCHAIN_DEFERRED.0,
        b::PERF_RECORD_CALLCHAIN_DEFERRED
    );
    assert_eq!(
        u32::from(misc::MMAP_BUILD_ID),
        b::PERF_RECORD_MISC_MMAP_BUILD_ID
    );
}

// ---- every sample_type bit on its own ------------------------------------------------

/// The single-u64 fields: each bit alone yields exactly that field.
#[test]
fn each_single_word_sample_bit_alone_fills_only_its_field() {
    type Get = fn(&Sample<'_>) -> Option<u64>;
    let cases: [(u64, Get); 13] = [
        (st::IDENTIFIER, |s| s.identifier),
        (st::IP, |s| s.ip),
        (st::TIME, |s| s.time),
        (st::ADDR, |s| s.addr),
        (st::ID, |s| s.id),
        (st::STREAM_ID, |s| s.stream_id),
        (st::PERIOD, |s| s.period),
        (st::DATA_SRC, |s| s.data_src),
        (st::TRANSACTION, |s| s.transaction),
        (st::PHYS_ADDR, |s| s.phys_addr),
        (st::CGROUP, |s| s.cgroup),
        (st::DATA_PAGE_SIZE, |s| s.data_page_size),
        (st::CODE_PAGE_SIZE, |s| s.code_page_size),
    ];
    for (bit, get) in cases {
        let c = ctx(fmt(bit));
        let rec = B::new(RecordType::SAMPLE, 0).u64(0xdead_0000 + bit).build();
        let s = sample_of(&c, &rec);
        assert_eq!(get(&s), Some(0xdead_0000 + bit), "bit {bit:#x}");
        let mut expected = Sample::default();
        match bit {
            st::IDENTIFIER => expected.identifier = Some(0xdead_0000 + bit),
            st::IP => expected.ip = Some(0xdead_0000 + bit),
            st::TIME => expected.time = Some(0xdead_0000 + bit),
            st::ADDR => expected.addr = Some(0xdead_0000 + bit),
            st::ID => expected.id = Some(0xdead_0000 + bit),
            st::STREAM_ID => expected.stream_id = Some(0xdead_0000 + bit),
            st::PERIOD => expected.period = Some(0xdead_0000 + bit),
            st::DATA_SRC => expected.data_src = Some(0xdead_0000 + bit),
            st::TRANSACTION => expected.transaction = Some(0xdead_0000 + bit),
            st::PHYS_ADDR => expected.phys_addr = Some(0xdead_0000 + bit),
            st::CGROUP => expected.cgroup = Some(0xdead_0000 + bit),
            st::DATA_PAGE_SIZE => expected.data_page_size = Some(0xdead_0000 + bit),
            st::CODE_PAGE_SIZE => expected.code_page_size = Some(0xdead_0000 + bit),
            _ => unreachable!(),
        }
        assert_eq!(s, expected, "bit {bit:#x}");
        // One word missing: an error naming the truncation, not a panic.
        let short = B::new(RecordType::SAMPLE, 0).build();
        assert!(matches!(
            c.parse(&short),
            Err(ParseError::Truncated { offset: 8, .. })
        ));
    }
}

#[test]
fn tid_bit_gives_pid_then_tid() {
    let c = ctx(fmt(st::TID));
    let s = sample_of(&c, &B::new(RecordType::SAMPLE, 0).u32(100).u32(101).build());
    assert_eq!((s.pid, s.tid), (Some(100), Some(101)));
}

#[test]
fn cpu_bit_gives_cpu_and_skips_the_reserved_word() {
    let c = ctx(fmt(st::CPU | st::PERIOD));
    let s = sample_of(
        &c,
        &B::new(RecordType::SAMPLE, 0)
            .u32(3)
            .u32(0xffff)
            .u64(7)
            .build(),
    );
    assert_eq!((s.cpu, s.period), (Some(3), Some(7)));
}

#[test]
fn read_non_group_puts_times_after_the_value() {
    let f = EventFormat {
        sample_type: st::READ,
        read_format: rf::TOTAL_TIME_ENABLED | rf::TOTAL_TIME_RUNNING | rf::ID | rf::LOST,
        ..Default::default()
    };
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(1000)
        .u64(11)
        .u64(12)
        .u64(99)
        .u64(5)
        .build();
    let s = sample_of(&ctx(f), &rec);
    assert_eq!(
        s.read,
        Some(ReadValues {
            group: false,
            time_enabled: Some(11),
            time_running: Some(12),
            values: vec![ReadValue {
                value: 1000,
                id: Some(99),
                lost: Some(5)
            }],
        })
    );
    assert_eq!(s.read.unwrap().lost(), Some(5));
}

#[test]
fn read_group_puts_nr_and_times_before_the_values() {
    let f = EventFormat {
        sample_type: st::READ,
        read_format: rf::GROUP
            | rf::TOTAL_TIME_ENABLED
            | rf::TOTAL_TIME_RUNNING
            | rf::ID
            | rf::LOST,
        ..Default::default()
    };
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(2) // nr
        .u64(11)
        .u64(12)
        .u64(1000)
        .u64(1)
        .u64(0)
        .u64(2000)
        .u64(2)
        .u64(3)
        .build();
    let s = sample_of(&ctx(f), &rec);
    let r = s.read.unwrap();
    assert!(r.group);
    assert_eq!((r.time_enabled, r.time_running), (Some(11), Some(12)));
    assert_eq!(
        r.values,
        vec![
            ReadValue {
                value: 1000,
                id: Some(1),
                lost: Some(0)
            },
            ReadValue {
                value: 2000,
                id: Some(2),
                lost: Some(3)
            },
        ]
    );
    assert_eq!(r.lost(), Some(3));
    // Each member's own value, so a group's fds are counted once each.
    let own = r.clone().only(2);
    assert_eq!(
        (own.values.len(), own.values[0].value, own.lost()),
        (1, 2000, Some(3))
    );
    assert_eq!(r.clone().only(1).lost(), Some(0));
    assert_eq!(r.clone().only(99), r, "an unknown id keeps every value");
}

#[test]
fn read_group_with_a_huge_nr_is_truncated_not_allocated() {
    let f = EventFormat {
        sample_type: st::READ,
        read_format: rf::GROUP,
        ..Default::default()
    };
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(u64::MAX / 2)
        .u64(1)
        .build();
    assert!(ctx(f).parse(&rec).is_err());
    let rec = B::new(RecordType::SAMPLE, 0).u64(1 << 40).u64(1).build();
    assert!(matches!(
        ctx(f).parse(&rec),
        Err(ParseError::Truncated { .. })
    ));
}

#[test]
fn read_values_parse_and_size_agree_for_every_read_format() {
    for read_format in 0..=rf::ALL {
        let members = if read_format & rf::GROUP != 0 { 3 } else { 1 };
        let size = ReadValues::size(read_format, members).unwrap();
        let mut bytes = Vec::new();
        if read_format & rf::GROUP != 0 {
            bytes.extend_from_slice(&3u64.to_ne_bytes());
        }
        while bytes.len() < size {
            bytes.extend_from_slice(&7u64.to_ne_bytes());
        }
        let v = ReadValues::parse(&bytes, read_format).unwrap();
        assert_eq!(v.values.len(), members);
        assert_eq!(v.values[0].lost.is_some(), read_format & rf::LOST != 0);
        assert_eq!(v.values[0].id.is_some(), read_format & rf::ID != 0);
        assert_eq!(
            v.time_enabled.is_some(),
            read_format & rf::TOTAL_TIME_ENABLED != 0
        );
        // one word short is an error
        assert!(ReadValues::parse(&bytes[..size - 8], read_format).is_err());
    }
}

#[test]
fn callchain_gives_nr_ips() {
    let c = ctx(fmt(st::CALLCHAIN));
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(3)
        .u64(u64::MAX - 511)
        .u64(0x10)
        .u64(0x20)
        .build();
    assert_eq!(
        sample_of(&c, &rec).callchain,
        Some(vec![u64::MAX - 511, 0x10, 0x20])
    );
    let rec = B::new(RecordType::SAMPLE, 0).u64(u64::MAX).build();
    assert!(matches!(
        c.parse(&rec),
        Err(ParseError::Inconsistent { .. })
    ));
    let rec = B::new(RecordType::SAMPLE, 0).u64(4).u64(1).build();
    assert!(matches!(
        c.parse(&rec),
        Err(ParseError::Truncated {
            field: "callchain ips",
            offset: 16,
            needed: 32,
            available: 8,
            ..
        })
    ));
}

#[test]
fn raw_takes_its_u32_size_including_padding() {
    let c = ctx(fmt(st::RAW | st::PERIOD));
    // PERIOD comes before RAW in the record
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(9)
        .u32(12)
        .bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0])
        .build();
    let s = sample_of(&c, &rec);
    assert_eq!(s.period, Some(9));
    assert_eq!(s.raw, Some(&[1u8, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0][..]));
    let rec = B::new(RecordType::SAMPLE, 0).u64(9).u32(60).u32(0).build();
    assert!(matches!(
        c.parse(&rec),
        Err(ParseError::Truncated {
            field: "raw data",
            ..
        })
    ));
}

fn branch_fmt(branch_sample_type: u64) -> EventFormat {
    EventFormat {
        sample_type: st::BRANCH_STACK,
        branch_sample_type,
        ..Default::default()
    }
}

#[test]
fn branch_stack_without_hw_index() {
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(2)
        .u64(1)
        .u64(2)
        .u64(3)
        .u64(4)
        .u64(5)
        .u64(6)
        .build();
    let s = sample_of(&ctx(branch_fmt(0)), &rec);
    let b = s.branch_stack.unwrap();
    assert_eq!(b.hw_idx, None);
    assert_eq!(b.counters, None);
    assert_eq!(
        b.entries,
        vec![
            BranchEntry {
                from: 1,
                to: 2,
                flags: 3
            },
            BranchEntry {
                from: 4,
                to: 5,
                flags: 6
            }
        ]
    );
}

#[test]
fn branch_stack_with_hw_index_reads_it_before_the_entries() {
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(1)
        .u64(77)
        .u64(1)
        .u64(2)
        .u64(3)
        .build();
    let b = sample_of(&ctx(branch_fmt(branch::HW_INDEX)), &rec)
        .branch_stack
        .unwrap();
    assert_eq!(b.hw_idx, Some(77));
    assert_eq!(
        b.entries,
        vec![BranchEntry {
            from: 1,
            to: 2,
            flags: 3
        }]
    );
    // the same bytes without HW_INDEX in the attr leave bytes over
    assert!(matches!(
        ctx(branch_fmt(0)).parse(&rec),
        Err(ParseError::Inconsistent { .. })
    ));
}

#[test]
fn branch_stack_with_counters_reads_one_word_per_entry_after_them() {
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(2)
        .u64(5)
        .u64(1)
        .u64(2)
        .u64(3)
        .u64(4)
        .u64(5)
        .u64(6)
        .u64(0xc1)
        .u64(0xc2)
        .build();
    let b = sample_of(&ctx(branch_fmt(branch::HW_INDEX | branch::COUNTERS)), &rec)
        .branch_stack
        .unwrap();
    assert_eq!(b.hw_idx, Some(5));
    assert_eq!(b.entries.len(), 2);
    assert_eq!(b.counters, Some(vec![0xc1, 0xc2]));
}

#[test]
fn regs_user_reads_one_value_per_mask_bit_unless_abi_none() {
    let f = EventFormat {
        sample_type: st::REGS_USER | st::PERIOD,
        sample_regs_user: 0b1010_0001,
        ..Default::default()
    };
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(1)
        .u64(regs_abi::ABI_64)
        .u64(10)
        .u64(50)
        .u64(70)
        .build();
    let r = sample_of(&ctx(f), &rec).regs_user.unwrap();
    assert_eq!(r.abi, regs_abi::ABI_64);
    assert_eq!(r.values, vec![10, 50, 70]);
    assert_eq!(
        (r.get(0), r.get(5), r.get(7), r.get(1), r.get(64)),
        (Some(10), Some(50), Some(70), None, None)
    );
    // abi NONE (a kernel thread): no values follow
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(1)
        .u64(regs_abi::NONE)
        .build();
    let r = sample_of(&ctx(f), &rec).regs_user.unwrap();
    assert_eq!((r.abi, r.values.len()), (0, 0));
}

#[test]
fn regs_intr_uses_its_own_mask_after_transaction() {
    let f = EventFormat {
        sample_type: st::REGS_INTR | st::TRANSACTION | st::REGS_USER,
        sample_regs_user: 0b1,
        sample_regs_intr: 0b11,
        ..Default::default()
    };
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(2)
        .u64(1) // regs_user abi, 1 reg
        .u64(0x7a) // transaction
        .u64(2)
        .u64(3)
        .u64(4) // regs_intr abi, 2 regs
        .build();
    let s = sample_of(&ctx(f), &rec);
    assert_eq!(s.regs_user.unwrap().values, vec![1]);
    assert_eq!(s.transaction, Some(0x7a));
    assert_eq!(s.regs_intr.unwrap().values, vec![3, 4]);
}

#[test]
fn stack_user_has_dyn_size_only_when_size_is_nonzero() {
    let c = ctx(fmt(st::STACK_USER | st::DATA_SRC));
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(16)
        .bytes(&[1; 16])
        .u64(8)
        .u64(0xd5)
        .build();
    let s = sample_of(&c, &rec);
    let u = s.stack_user.unwrap();
    assert_eq!((u.data.len(), u.dyn_size, u.valid().len()), (16, 8, 8));
    assert_eq!(s.data_src, Some(0xd5));
    let rec = B::new(RecordType::SAMPLE, 0).u64(0).u64(0xd5).build();
    let s = sample_of(&c, &rec);
    assert_eq!(s.stack_user.unwrap().data.len(), 0);
    assert_eq!(s.data_src, Some(0xd5));
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(8)
        .bytes(&[0; 8])
        .u64(9)
        .u64(0)
        .build();
    assert!(matches!(
        c.parse(&rec),
        Err(ParseError::Inconsistent { .. })
    ));
}

#[test]
fn weight_is_one_full_word() {
    let c = ctx(fmt(st::WEIGHT | st::DATA_SRC));
    let s = sample_of(
        &c,
        &B::new(RecordType::SAMPLE, 0)
            .u64(0x1_0000_0002)
            .u64(3)
            .build(),
    );
    assert_eq!(s.weight, Some(Weight::Full(0x1_0000_0002)));
    assert_eq!(s.data_src, Some(3));
}

#[test]
fn weight_struct_alone_is_parsed_in_the_weight_slot() {
    // perf-event-data checked only WEIGHT and mis-aligned this sample.
    let c = ctx(fmt(st::WEIGHT_STRUCT | st::DATA_SRC));
    let rec = B::new(RecordType::SAMPLE, 0)
        .u32(500)
        .u16(20)
        .u16(30)
        .u64(3)
        .build();
    let s = sample_of(&c, &rec);
    assert_eq!(
        s.weight,
        Some(Weight::Struct {
            var1_dw: 500,
            var2_w: 20,
            var3_w: 30
        })
    );
    assert_eq!(s.data_src, Some(3));
}

#[test]
fn both_weight_bits_are_refused_like_the_kernel_does() {
    assert_eq!(
        ParseContext::single(fmt(st::WEIGHT | st::WEIGHT_STRUCT)).unwrap_err(),
        FormatError::BothWeights
    );
}

#[test]
fn aux_comes_after_the_page_sizes() {
    // linux-perf-event-reader parsed AUX before DATA/CODE_PAGE_SIZE.
    let c = ctx(fmt(st::AUX | st::DATA_PAGE_SIZE | st::CODE_PAGE_SIZE));
    let rec = B::new(RecordType::SAMPLE, 0)
        .u64(4096)
        .u64(2 << 20)
        .u64(16)
        .bytes(&[0xaa; 16])
        .build();
    let s = sample_of(&c, &rec);
    assert_eq!(s.data_page_size, Some(4096));
    assert_eq!(s.code_page_size, Some(2 << 20));
    assert_eq!(s.aux, Some(&[0xaa; 16][..]));
}

/// Every bit at once, with distinct values: any swap of two fields fails.
#[test]
fn all_sample_bits_are_read_in_uapi_order() {
    for weight_bit in [st::WEIGHT, st::WEIGHT_STRUCT] {
        let f = EventFormat {
            sample_type: st::ALL & !(st::WEIGHT_TYPE) | weight_bit,
            read_format: rf::GROUP | rf::ID | rf::LOST,
            sample_regs_user: 0b11,
            sample_regs_intr: 0b100,
            branch_sample_type: branch::HW_INDEX,
            sample_id_all: true,
        };
        let rec = B::new(RecordType::SAMPLE, misc::USER)
            .u64(1) // identifier
            .u64(2) // ip
            .u32(3)
            .u32(4) // pid tid
            .u64(5) // time
            .u64(6) // addr
            .u64(7) // id
            .u64(8) // stream_id
            .u32(9)
            .u32(0) // cpu res
            .u64(10) // period
            .u64(1)
            .u64(11)
            .u64(12)
            .u64(13) // read: nr, value, id, lost
            .u64(2)
            .u64(14)
            .u64(15) // callchain
            .u32(4)
            .bytes(&[16, 16, 16, 16]) // raw
            .u64(1)
            .u64(17)
            .u64(18)
            .u64(19)
            .u64(20) // branch: nr hw_idx from to flags
            .u64(2)
            .u64(21)
            .u64(22) // regs_user
            .u64(8)
            .bytes(&[23; 8])
            .u64(8) // stack_user
            .u64(24) // weight
            .u64(25) // data_src
            .u64(26) // transaction
            .u64(2)
            .u64(27) // regs_intr
            .u64(28) // phys_addr
            .u64(29) // cgroup
            .u64(30) // data_page_size
            .u64(31) // code_page_size
            .u64(8)
            .bytes(&[32; 8]) // aux
            .build();
        let s = sample_of(&ctx(f), &rec);
        assert_eq!(s.identifier, Some(1));
        assert_eq!(s.ip, Some(2));
        assert_eq!((s.pid, s.tid), (Some(3), Some(4)));
        assert_eq!(s.time, Some(5));
        assert_eq!(s.addr, Some(6));
        assert_eq!(s.id, Some(7));
        assert_eq!(s.stream_id, Some(8));
        assert_eq!(s.cpu, Some(9));
        assert_eq!(s.period, Some(10));
        assert_eq!(
            s.read.as_ref().unwrap().values,
            vec![ReadValue {
                value: 11,
                id: Some(12),
                lost: Some(13)
            }]
        );
        assert_eq!(s.callchain, Some(vec![14, 15]));
        assert_eq!(s.raw, Some(&[16u8; 4][..]));
        let b = s.branch_stack.as_ref().unwrap();
        assert_eq!(
            (b.hw_idx, b.entries[0]),
            (
                Some(17),
                BranchEntry {
                    from: 18,
                    to: 19,
                    flags: 20
                }
            )
        );
        assert_eq!(s.regs_user.as_ref().unwrap().values, vec![21, 22]);
        assert_eq!(s.stack_user.unwrap().data, &[23; 8]);
        let w = if weight_bit == st::WEIGHT {
            Weight::Full(24)
        } else {
            Weight::Struct {
                var1_dw: u32::from_ne_bytes(24u64.to_ne_bytes()[..4].try_into().unwrap()),
                var2_w: 0,
                var3_w: 0,
            }
        };
        assert_eq!(s.weight, Some(w));
        assert_eq!(s.data_src, Some(25));
        assert_eq!(s.transaction, Some(26));
        assert_eq!(s.regs_intr.as_ref().unwrap().values, vec![27]);
        assert_eq!(s.phys_addr, Some(28));
        assert_eq!(s.cgroup, Some(29));
        assert_eq!(s.data_page_size, Some(30));
        assert_eq!(s.code_page_size, Some(31));
        assert_eq!(s.aux, Some(&[32u8; 8][..]));

        // Every shorter record (size field consistent with the bytes) is an error, never
        // a panic; so is every cut of the bytes below the header's size.
        let c = ctx(f);
        for len in (8..rec.len()).step_by(4) {
            let mut short = rec[..len].to_vec();
            short[6..8].copy_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
            assert!(c.parse(&short).is_err(), "len {len}");
            assert!(matches!(
                c.parse(&rec[..len]),
                Err(ParseError::BadSize { .. })
            ));
        }
        // One word too many: left over.
        let mut long = rec.clone();
        long.extend_from_slice(&[0; 8]);
        let n = u16::try_from(long.len()).unwrap();
        long[6..8].copy_from_slice(&n.to_ne_bytes());
        assert!(matches!(
            c.parse(&long),
            Err(ParseError::Inconsistent { .. })
        ));
    }
}

// ---- every record type, with a full sample_id trailer -------------------------------

const TRAILER_TYPE: u64 = st::TID | st::TIME | st::ID | st::STREAM_ID | st::CPU | st::IDENTIFIER;

fn trailer_ctx() -> ParseContext {
    ctx(EventFormat {
        sample_type: TRAILER_TYPE,
        read_format: rf::ID,
        sample_id_all: true,
        ..Default::default()
    })
}

fn with_trailer(b: B) -> Vec<u8> {
    b.u32(1)
        .u32(2)
        .u64(3)
        .u64(4)
        .u64(5)
        .u32(6)
        .u32(0)
        .u64(7)
        .build()
}

const TRAILER: SampleId = SampleId {
    pid: Some(1),
    tid: Some(2),
    time: Some(3),
    id: Some(4),
    stream_id: Some(5),
    cpu: Some(6),
    identifier: Some(7),
};

#[test]
fn a_written_trailer_reads_back_and_has_its_size() {
    let all = st::TID | st::TIME | st::ID | st::STREAM_ID | st::CPU | st::IDENTIFIER;
    for t in [all, st::TID | st::CPU, st::IDENTIFIER, 0] {
        let mut out = Vec::new();
        TRAILER.write(t, &mut out);
        assert_eq!(out.len(), SampleId::size(t));
        let mut c = super::cursor::Cursor::new(&out, 0, out.len(), RecordType(0));
        let back = SampleId::read(&mut c, t).unwrap();
        assert_eq!(back.tid.is_some(), t & st::TID != 0);
        assert_eq!(back.identifier.is_some(), t & st::IDENTIFIER != 0);
        if t == all {
            assert_eq!(back, TRAILER);
        }
    }
}

/// Parses `rec` with the trailer context, checks the trailer, and that every shorter
/// size is an error; returns the body.
fn parse_kind(rec: &[u8]) -> Record<'_> {
    let c = trailer_ctx();
    for len in (8..rec.len()).step_by(8) {
        let mut short = rec[..len].to_vec();
        short[6..8].copy_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
        if let Ok(p) = c.parse(&short) {
            // Only a string record can lose its padding and still parse; its trailer then
            // cannot be the right one.
            assert_ne!(p.sample_id, Some(TRAILER), "len {len} of {}", rec.len());
        }
    }
    let p = c.parse(rec).unwrap();
    assert_eq!(p.sample_id, Some(TRAILER));
    assert_eq!(
        (p.time(), p.pid_tid(), p.cpu(), p.event_id()),
        (Some(3), Some((1, 2)), Some(6), Some(7))
    );
    p.record
}

#[test]
fn mmap_record() {
    let rec = with_trailer(
        B::new(RecordType::MMAP, misc::MMAP_DATA)
            .u32(10)
            .u32(11)
            .u64(0x1000)
            .u64(0x2000)
            .u64(0x30)
            .cstr("/lib/x.so"),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::Mmap(Mmap {
            pid: 10,
            tid: 11,
            addr: 0x1000,
            len: 0x2000,
            pgoff: 0x30,
            data: true,
            filename: b"/lib/x.so"
        })
    );
}

#[test]
fn mmap2_record_with_inode() {
    let rec = with_trailer(
        B::new(RecordType::MMAP2, 0)
            .u32(10)
            .u32(11)
            .u64(0x1000)
            .u64(0x2000)
            .u64(0)
            .u32(8)
            .u32(1)
            .u64(1234)
            .u64(5)
            .u32(5)
            .u32(2)
            .cstr("/usr/bin/true"),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::Mmap2(Mmap2 {
            pid: 10,
            tid: 11,
            addr: 0x1000,
            len: 0x2000,
            pgoff: 0,
            file_id: FileId::Inode {
                maj: 8,
                min: 1,
                ino: 1234,
                ino_generation: 5
            },
            prot: 5,
            flags: 2,
            data: false,
            filename: b"/usr/bin/true"
        })
    );
}

#[test]
fn mmap2_record_with_build_id() {
    let id: Vec<u8> = (1..=20).collect();
    let rec = with_trailer(
        B::new(RecordType::MMAP2, misc::MMAP_BUILD_ID)
            .u32(10)
            .u32(11)
            .u64(0x1000)
            .u64(0x2000)
            .u64(0)
            .u8(20)
            .u8(0)
            .u16(0)
            .bytes(&id)
            .u32(5)
            .u32(2)
            .cstr("x"),
    );
    let Record::Mmap2(m) = parse_kind(&rec) else {
        panic!()
    };
    assert_eq!(m.file_id, FileId::BuildId(BuildId::new(&id).unwrap()));
    assert_eq!((m.prot, m.flags, m.filename), (5, 2, &b"x"[..]));
    // a build id longer than 20 is inconsistent
    let rec = with_trailer(
        B::new(RecordType::MMAP2, misc::MMAP_BUILD_ID)
            .u32(1)
            .u32(1)
            .u64(0)
            .u64(0)
            .u64(0)
            .u8(21)
            .u8(0)
            .u16(0)
            .bytes(&id)
            .u32(5)
            .u32(2)
            .cstr("x"),
    );
    assert!(matches!(
        trailer_ctx().parse(&rec),
        Err(ParseError::Inconsistent { .. })
    ));
}

#[test]
fn lost_record() {
    let rec = with_trailer(B::new(RecordType::LOST, 0).u64(42).u64(17));
    assert_eq!(parse_kind(&rec), Record::Lost(Lost { id: 42, lost: 17 }));
}

#[test]
fn comm_record_with_exec_flag() {
    let rec = with_trailer(
        B::new(RecordType::COMM, misc::COMM_EXEC)
            .u32(5)
            .u32(6)
            .cstr("sleep"),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::Comm(Comm {
            pid: 5,
            tid: 6,
            exec: true,
            comm: b"sleep"
        })
    );
    // exactly 8 bytes of name leaves no room for the NUL in those 8: padding adds 8 more
    let rec = with_trailer(B::new(RecordType::COMM, 0).u32(5).u32(6).cstr("12345678"));
    let Record::Comm(c) = parse_kind(&rec) else {
        panic!()
    };
    assert_eq!(c.comm, b"12345678");
}

#[test]
fn comm_without_nul_is_inconsistent() {
    let rec = with_trailer(B::new(RecordType::COMM, 0).u32(5).u32(6).bytes(b"abcdefgh"));
    assert!(matches!(
        trailer_ctx().parse(&rec),
        Err(ParseError::Inconsistent { .. })
    ));
}

#[test]
fn fork_and_exit_records() {
    for (t, wrap) in [
        (
            RecordType::FORK,
            Record::Fork as fn(TaskEvent) -> Record<'static>,
        ),
        (RecordType::EXIT, Record::Exit),
    ] {
        let rec = with_trailer(B::new(t, 0).u32(20).u32(10).u32(21).u32(11).u64(999));
        assert_eq!(
            parse_kind(&rec),
            wrap(TaskEvent {
                pid: 20,
                ppid: 10,
                tid: 21,
                ptid: 11,
                time: 999
            })
        );
    }
}

#[test]
fn throttle_and_unthrottle_records() {
    let rec = with_trailer(B::new(RecordType::THROTTLE, 0).u64(1).u64(2).u64(3));
    assert_eq!(
        parse_kind(&rec),
        Record::Throttle(Throttle {
            time: 1,
            id: 2,
            stream_id: 3
        })
    );
    let rec = with_trailer(B::new(RecordType::UNTHROTTLE, 0).u64(1).u64(2).u64(3));
    assert_eq!(
        parse_kind(&rec),
        Record::Unthrottle(Throttle {
            time: 1,
            id: 2,
            stream_id: 3
        })
    );
}

#[test]
fn read_record_uses_read_format() {
    let rec = with_trailer(B::new(RecordType::READ, 0).u32(1).u32(2).u64(500).u64(4));
    assert_eq!(
        parse_kind(&rec),
        Record::Read(Read {
            pid: 1,
            tid: 2,
            values: ReadValues {
                group: false,
                time_enabled: None,
                time_running: None,
                values: vec![ReadValue {
                    value: 500,
                    id: Some(4),
                    lost: None
                }]
            }
        })
    );
}

#[test]
fn aux_itrace_lost_samples_hw_id_records() {
    let rec = with_trailer(B::new(RecordType::AUX, 0).u64(4096).u64(512).u64(1));
    assert_eq!(
        parse_kind(&rec),
        Record::Aux(Aux {
            aux_offset: 4096,
            aux_size: 512,
            flags: 1
        })
    );
    let rec = with_trailer(B::new(RecordType::ITRACE_START, 0).u32(8).u32(9));
    assert_eq!(
        parse_kind(&rec),
        Record::ItraceStart(ItraceStart { pid: 8, tid: 9 })
    );
    let rec = with_trailer(B::new(RecordType::LOST_SAMPLES, 0).u64(33));
    assert_eq!(
        parse_kind(&rec),
        Record::LostSamples(LostSamples { lost: 33 })
    );
    let rec = with_trailer(B::new(RecordType::AUX_OUTPUT_HW_ID, 0).u64(0x55));
    assert_eq!(
        parse_kind(&rec),
        Record::AuxOutputHwId(AuxOutputHwId { hw_id: 0x55 })
    );
}

#[test]
fn switch_records() {
    let rec = with_trailer(B::new(
        RecordType::SWITCH,
        misc::SWITCH_OUT | misc::SWITCH_OUT_PREEMPT,
    ));
    assert_eq!(
        parse_kind(&rec),
        Record::Switch(Switch {
            out: true,
            preempt: true,
            next_prev: None
        })
    );
    let rec = with_trailer(B::new(RecordType::SWITCH, 0));
    assert_eq!(
        parse_kind(&rec),
        Record::Switch(Switch {
            out: false,
            preempt: false,
            next_prev: None
        })
    );
    let rec = with_trailer(
        B::new(RecordType::SWITCH_CPU_WIDE, misc::SWITCH_OUT)
            .u32(70)
            .u32(71),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::SwitchCpuWide(Switch {
            out: true,
            preempt: false,
            next_prev: Some((70, 71))
        })
    );
}

#[test]
fn namespaces_record() {
    let rec = with_trailer(
        B::new(RecordType::NAMESPACES, 0)
            .u32(1)
            .u32(1)
            .u64(2)
            .u64(4)
            .u64(0xf0)
            .u64(4)
            .u64(0xf1),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::Namespaces(Namespaces {
            pid: 1,
            tid: 1,
            links: vec![
                NamespaceLink {
                    dev: 4,
                    inode: 0xf0
                },
                NamespaceLink {
                    dev: 4,
                    inode: 0xf1
                }
            ]
        })
    );
    let rec = with_trailer(
        B::new(RecordType::NAMESPACES, 0)
            .u32(1)
            .u32(1)
            .u64(u64::MAX),
    );
    assert!(trailer_ctx().parse(&rec).is_err());
}

#[test]
fn ksymbol_bpf_cgroup_records() {
    let rec = with_trailer(
        B::new(RecordType::KSYMBOL, 0)
            .u64(0xffff_0000)
            .u32(64)
            .u16(1)
            .u16(0)
            .cstr("bpf_prog_x"),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::Ksymbol(Ksymbol {
            addr: 0xffff_0000,
            len: 64,
            ksym_type: 1,
            flags: 0,
            name: b"bpf_prog_x"
        })
    );
    let rec = with_trailer(
        B::new(RecordType::BPF_EVENT, 0)
            .u16(1)
            .u16(0)
            .u32(12)
            .bytes(&[9; 8]),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::BpfEvent(BpfEvent {
            event_type: 1,
            flags: 0,
            id: 12,
            tag: [9; 8]
        })
    );
    let rec = with_trailer(
        B::new(RecordType::CGROUP, 0)
            .u64(77)
            .cstr("/sys/fs/cgroup/a"),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::Cgroup(Cgroup {
            id: 77,
            path: b"/sys/fs/cgroup/a"
        })
    );
}

#[test]
fn text_poke_record() {
    let rec = with_trailer(
        B::new(RecordType::TEXT_POKE, 0)
            .u64(0xffff_1000)
            .u16(2)
            .u16(3)
            .bytes(&[1, 2, 3, 4, 5])
            .bytes(&[0; 7]),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::TextPoke(TextPoke {
            addr: 0xffff_1000,
            old_bytes: &[1, 2],
            new_bytes: &[3, 4, 5]
        })
    );
}

#[test]
fn callchain_deferred_record() {
    let rec = with_trailer(
        B::new(RecordType::CALLCHAIN_DEFERRED, 0)
            .u64(5)
            .u64(2)
            .u64(0x10)
            .u64(0x20),
    );
    assert_eq!(
        parse_kind(&rec),
        Record::CallchainDeferred(CallchainDeferred {
            cookie: 5,
            ips: vec![0x10, 0x20]
        })
    );
}

#[test]
fn records_without_sample_id_all_have_no_trailer() {
    let c = ctx(fmt(TRAILER_TYPE));
    let rec = B::new(RecordType::LOST, 0).u64(1).u64(2).build();
    let p = c.parse(&rec).unwrap();
    assert_eq!(p.sample_id, None);
    assert_eq!(p.record, Record::Lost(Lost { id: 1, lost: 2 }));
    // the same record read as if it had a trailer is too short
    assert!(matches!(
        trailer_ctx().parse(&rec),
        Err(ParseError::Truncated {
            field: "sample_id trailer",
            ..
        })
    ));
}

#[test]
fn unknown_types_come_back_raw() {
    let c = trailer_ctx();
    for t in [23, 63, 68, 0x1234_5678] {
        let rec = B::new(RecordType(t), 0).u64(1).build();
        let p = c.parse(&rec).unwrap();
        assert_eq!(p.record, Record::Raw(&1u64.to_ne_bytes()));
        assert_eq!(p.sample_id, None);
    }
}

#[test]
fn bad_headers_are_errors() {
    let c = trailer_ctx();
    assert_eq!(c.parse(&[0; 7]), Err(ParseError::ShortHeader { len: 7 }));
    let mut rec = B::new(RecordType::LOST, 0).u64(1).u64(2).build();
    rec[6..8].copy_from_slice(&4u16.to_ne_bytes());
    assert!(matches!(
        c.parse(&rec),
        Err(ParseError::BadSize { size: 4, .. })
    ));
    rec[6..8].copy_from_slice(&64u16.to_ne_bytes());
    assert!(matches!(
        c.parse(&rec),
        Err(ParseError::BadSize { size: 64, .. })
    ));
    assert_eq!(
        ParseContext::new().parse(&B::new(RecordType::LOST, 0).build()),
        Err(ParseError::EmptyContext)
    );
}

#[test]
fn a_record_is_parsed_in_place_in_a_larger_buffer() {
    let mut buf = B::new(RecordType::LOST, 0).u64(1).u64(2).build();
    buf.extend_from_slice(&[0xff; 32]);
    assert_eq!(
        ctx(fmt(0)).parse(&buf).unwrap().record,
        Record::Lost(Lost { id: 1, lost: 2 })
    );
}

// ---- several events -------------------------------------------------------------------

#[test]
fn several_events_are_told_apart_by_identifier() {
    let mut c = ParseContext::new();
    let a = c
        .add_event(
            EventFormat {
                sample_type: st::IDENTIFIER | st::IP,
                sample_id_all: true,
                ..Default::default()
            },
            &[100, 101],
        )
        .unwrap();
    let b = c
        .add_event(
            EventFormat {
                sample_type: st::IDENTIFIER | st::TID | st::CPU,
                sample_id_all: true,
                ..Default::default()
            },
            &[200],
        )
        .unwrap();
    let r = B::new(RecordType::SAMPLE, 0).u64(101).u64(0x400).build();
    let p = c.parse(&r).unwrap();
    assert_eq!(p.event, Some(a));
    let r = B::new(RecordType::SAMPLE, 0)
        .u64(200)
        .u32(1)
        .u32(2)
        .u32(3)
        .u32(0)
        .build();
    let p = c.parse(&r).unwrap();
    assert_eq!(p.event, Some(b));
    assert_eq!(p.cpu(), Some(3));
    // non-sample: identifier is the trailer's last word
    let r = B::new(RecordType::LOST, 0)
        .u64(1)
        .u64(2)
        .u32(7)
        .u32(8)
        .u32(9)
        .u32(0)
        .u64(200)
        .build();
    let p = c.parse(&r).unwrap();
    assert_eq!((p.event, p.pid_tid()), (Some(b), Some((7, 8))));
    // A synthesized record with a zero id belongs to the first event (perf's
    // evlist__id2evsel), not to no event; its trailer is that event's (identifier).
    let r = B::new(RecordType::LOST, 0).u64(1).u64(2).u64(0).build();
    assert_eq!(c.parse(&r).unwrap().event, Some(a));
    assert_eq!(
        c.parse(&B::new(RecordType::SAMPLE, 0).u64(999).u64(0).build()),
        Err(ParseError::UnknownId {
            record: RecordType::SAMPLE,
            id: 999
        })
    );
    assert_eq!(
        c.add_ids(a, &[200]),
        Err(FormatError::DuplicateId {
            id: 200,
            existing: b
        })
    );
    assert_eq!(c.add_ids(9, &[1]), Err(FormatError::NoSuchEvent(9)));
}

#[test]
fn several_events_with_id_only_use_perfs_id_positions() {
    let mut c = ParseContext::new();
    let f = EventFormat {
        sample_type: st::IP | st::TID | st::ID | st::CPU,
        sample_id_all: true,
        ..Default::default()
    };
    c.add_event(f, &[1]).unwrap();
    let g = c.add_event(f, &[2]).unwrap();
    assert_eq!(f.sample_id_offset(), Some(24));
    assert_eq!(f.trailer_id_from_end(), Some(16));
    let r = B::new(RecordType::SAMPLE, 0)
        .u64(0x1)
        .u32(1)
        .u32(1)
        .u64(2)
        .u32(0)
        .u32(0)
        .build();
    let p = c.parse(&r).unwrap();
    assert_eq!(p.event, Some(g));
    let r = B::new(RecordType::EXIT, 0)
        .u32(1)
        .u32(1)
        .u32(1)
        .u32(1)
        .u64(5)
        .u32(1)
        .u32(1)
        .u64(2)
        .u32(0)
        .u32(0)
        .build();
    let p = c.parse(&r).unwrap();
    assert_eq!(p.event, Some(g));
}

#[test]
fn events_that_place_ids_differently_cannot_share_a_context() {
    let mut c = ParseContext::new();
    c.add_event(
        EventFormat {
            sample_type: st::ID,
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    assert!(matches!(
        c.add_event(
            EventFormat {
                sample_type: st::ID | st::IP,
                ..Default::default()
            },
            &[]
        ),
        Err(FormatError::IdPositionMismatch { index: 1, .. })
    ));
    assert!(matches!(
        c.add_event(
            EventFormat {
                sample_type: st::ID,
                sample_id_all: true,
                ..Default::default()
            },
            &[]
        ),
        Err(FormatError::SampleIdAllMismatch {
            index: 1,
            value: true
        })
    ));
    let mut c = ParseContext::new();
    c.add_event(fmt(st::IP), &[]).unwrap();
    c.add_event(fmt(st::IP), &[]).unwrap();
    assert_eq!(
        c.parse(&B::new(RecordType::SAMPLE, 0).u64(1).build()),
        Err(ParseError::NoId {
            record: RecordType::SAMPLE,
            events: 2
        })
    );
}

// ---- robustness -----------------------------------------------------------------------

#[test]
fn random_bytes_never_panic_the_parser() {
    let contexts = [
        trailer_ctx(),
        ctx(EventFormat {
            sample_type: st::ALL & !st::WEIGHT,
            read_format: rf::ALL,
            sample_regs_user: 0xff,
            sample_regs_intr: 0xf,
            branch_sample_type: branch::HW_INDEX | branch::COUNTERS,
            sample_id_all: true,
        }),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let len = (next() % 200) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 8 {
            buf[0..4].copy_from_slice(&((next() % 24) as u32).to_ne_bytes());
            if next() % 2 == 0 {
                buf[6..8].copy_from_slice(&(len as u16).to_ne_bytes());
            }
            // small counts so nested lengths are sometimes plausible
            for i in (8..len.saturating_sub(8)).step_by(8) {
                if next() % 3 == 0 {
                    buf[i..i + 8].copy_from_slice(&(next() % 4).to_ne_bytes());
                }
            }
        }
        for c in &contexts {
            let _ = c.parse(&buf);
        }
    }
}

#[test]
fn errors_say_what_and_where() {
    let c = ctx(fmt(st::CALLCHAIN));
    let e = c
        .parse(&B::new(RecordType::SAMPLE, 0).u64(4).u64(1).build())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "SAMPLE record truncated: callchain ips needs 32 bytes at offset 16, only 8 remain"
    );
}

#[test]
fn record_time_of_a_sample_equals_the_parsed_time_for_every_field_before_it() {
    let before = [st::IDENTIFIER, st::IP, st::TID];
    for mask in 0..8u32 {
        let mut t = st::TIME | st::CPU;
        let mut rec = B::new(RecordType::SAMPLE, 2);
        if mask & 1 != 0 {
            t |= before[0];
            rec = rec.u64(7);
        }
        if mask & 2 != 0 {
            t |= before[1];
            rec = rec.u64(0x401000);
        }
        if mask & 4 != 0 {
            t |= before[2];
            rec = rec.u32(42).u32(43);
        }
        let bytes = rec.u64(123_456_789).u32(1).u32(0).build();
        let c = ctx(EventFormat {
            sample_type: t,
            ..Default::default()
        });
        let parsed = c.parse(&bytes).unwrap().time();
        assert_eq!(parsed, Some(123_456_789));
        assert_eq!(c.record_time(&bytes).unwrap(), parsed, "sample_type {t:#x}");
    }
}

#[test]
fn record_time_of_a_sample_without_time_is_none_and_a_short_one_is_an_error() {
    let c = ctx(EventFormat {
        sample_type: st::IP,
        ..Default::default()
    });
    let bytes = B::new(RecordType::SAMPLE, 2).u64(1).build();
    assert_eq!(c.record_time(&bytes).unwrap(), None);
    let c = ctx(EventFormat {
        sample_type: st::IP | st::TIME,
        ..Default::default()
    });
    assert!(c.record_time(&bytes).is_err());
}
