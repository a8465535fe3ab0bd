//! Every sample_type bit this kernel can put in a software event's samples, and the
//! group READ layout.

use super::*;

/// Every sample_type bit a software event can carry on this kernel, in one sample.
#[test]
fn every_sample_bit_a_software_event_can_make_parses_from_kernel_records() {
    // BRANCH_STACK needs LBR hardware and AUX an AUX-area leader: hand-built only.
    let all = st::ALL & !(st::BRANCH_STACK | st::AUX | st::WEIGHT_TYPE);
    for weight in [st::WEIGHT, st::WEIGHT_STRUCT] {
        let ev = sw(Software::PageFaults)
            .sampling(Sampling::Period(1))
            .sample_type(all | weight)
            .read_format(rf::TOTAL_TIME_ENABLED | rf::TOTAL_TIME_RUNNING | rf::ID | rf::LOST)
            .regs_user(0xff) // the first 8 x86-64 registers
            .stack_user(512);
        let mut ev = ev;
        ev.attr_mut().sample_regs_intr = 0xf;
        let Some(run) = capture(CaptureOptions::new(
            vec![ev],
            Target::Command(dd_touching(8)),
        )) else {
            return;
        };
        let child = run.child.unwrap() as u32;
        let samples = run.samples();
        assert!(samples.len() >= 8);
        let mut user_samples = 0;
        for s in &samples {
            assert_eq!((s.pid, s.tid), (Some(child), Some(child)));
            assert!(run.event_ids.contains(&s.identifier.unwrap()));
            assert_eq!(s.identifier, s.id);
            assert!(s.ip.is_some() && s.time.is_some() && s.addr.is_some());
            assert!(s.stream_id.is_some());
            assert!((s.cpu.unwrap() as usize) < 4096);
            assert_eq!(s.period, Some(1));
            let r = s.read.as_ref().unwrap();
            assert!(!r.group && r.values.len() == 1);
            assert_eq!(r.values[0].id, s.id);
            assert!(r.values[0].value >= 1 && r.values[0].lost == Some(0));
            assert!(r.time_enabled.is_some() && r.time_running.is_some());
            assert!(!s.callchain.as_ref().unwrap().is_empty());
            // No raw data for a software event: the kernel writes 4 zero bytes.
            assert_eq!(s.raw, Some(&[0u8; 4][..]));
            let regs = s.regs_user.as_ref().unwrap();
            if regs.abi == regs_abi::ABI_64 {
                user_samples += 1;
                assert_eq!(regs.values.len(), 8);
                let stack = s.stack_user.unwrap();
                assert_eq!(stack.data.len(), 512);
                assert!(stack.dyn_size <= 512);
            }
            match s.weight.unwrap() {
                Weight::Full(_) => assert_eq!(weight, st::WEIGHT),
                Weight::Struct { .. } => assert_eq!(weight, st::WEIGHT_STRUCT),
            }
            assert!(s.data_src.is_some() && s.transaction.is_some());
            assert_eq!(s.regs_intr.as_ref().unwrap().values.len(), 4);
            assert!(s.phys_addr.is_some() && s.cgroup.is_some());
            assert!(s.data_page_size.is_some());
            assert!(s.code_page_size.is_some());
            assert_eq!(s.aux, None);
        }
        assert!(user_samples > 0, "no user-mode sample with REGS_USER");
    }
}

/// The READ group layout on kernel data: a sampling leader and a counting member, opened
/// by hand with the lower-level API (EventFd, KernelRing, PendingChild).
#[test]
fn sample_read_with_a_group_carries_every_member_in_group_layout() {
    use perf_client::kernel::child::PendingChild;
    use perf_client::kernel::ring::KernelRing;
    use std::os::fd::AsFd;

    let child = PendingChild::spawn(&dd_touching(16)).expect("fork");
    let read_format =
        rf::GROUP | rf::ID | rf::LOST | rf::TOTAL_TIME_ENABLED | rf::TOTAL_TIME_RUNNING;
    let leader_cfg = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID | st::READ)
        .read_format(read_format)
        .enable_on_exec(true);
    let member_cfg = sw(Software::TaskClock)
        .sampling(Sampling::None)
        .read_format(read_format)
        .disabled(false);
    let leader = match leader_cfg.open(child.pid(), -1, None) {
        Ok(fd) => fd,
        Err(e) => return common::skip(&e.to_string()),
    };
    let member = member_cfg
        .open(child.pid(), -1, Some(leader.as_fd()))
        .expect("open the group member");
    let mut ring = KernelRing::map(&leader, 8, false, 0).expect("map");
    let ctx = ParseContext::single(leader_cfg.format()).unwrap();
    let mut child = child.release().expect("exec dd");
    child.wait().unwrap();
    let mut samples = 0;
    ring.drain(|bytes| -> Result<(), CaptureError> {
        let p = ctx.parse(bytes).expect("parse");
        if let Record::Sample(s) = p.record {
            samples += 1;
            let r = s.read.unwrap();
            assert!(r.group);
            assert_eq!(r.values.len(), 2);
            assert_eq!(r.values[0].id, Some(leader.id()));
            assert_eq!(r.values[1].id, Some(member.id()));
            assert_eq!(r.values[0].lost, Some(0));
            assert!(r.time_enabled.is_some() && r.time_running.is_some());
            // the leader counts page faults: its own count is at least this sample
            assert!(r.values[0].value >= 1);
        }
        Ok(())
    })
    .unwrap();
    assert!(samples >= 16, "{samples} samples");
    // read(2) on the leader uses the same layout.
    let v = leader.read_values().unwrap();
    assert!(v.group && v.values.len() == 2);
    assert_eq!(v.values[0].value, samples);
    assert_eq!(v.lost(), Some(0));
}
