//! Records as JSON objects and as one-line text, for `perf-client stream`.

use serde_json::{json, Map, Value};

use crate::records::{FileId, ParsedRecord, ReadValues, Record, Regs, Sample, SampleId, Weight};

fn lossy(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn hex(b: &[u8]) -> Value {
    Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn read_values(r: &ReadValues) -> Value {
    let mut m = Map::new();
    m.insert("group".into(), r.group.into());
    if let Some(t) = r.time_enabled {
        m.insert("time_enabled".into(), t.into());
    }
    if let Some(t) = r.time_running {
        m.insert("time_running".into(), t.into());
    }
    let values: Vec<Value> = r
        .values
        .iter()
        .map(|v| {
            let mut o = Map::new();
            o.insert("value".into(), v.value.into());
            if let Some(id) = v.id {
                o.insert("id".into(), id.into());
            }
            if let Some(l) = v.lost {
                o.insert("lost".into(), l.into());
            }
            Value::Object(o)
        })
        .collect();
    m.insert("values".into(), values.into());
    Value::Object(m)
}

fn regs(r: &Regs) -> Value {
    json!({ "abi": r.abi, "mask": r.mask, "values": r.values })
}

fn put<T: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.into(), v.into());
    }
}

fn sample(m: &mut Map<String, Value>, s: &Sample<'_>) {
    put(m, "identifier", s.identifier);
    put(m, "ip", s.ip);
    put(m, "pid", s.pid);
    put(m, "tid", s.tid);
    put(m, "time", s.time);
    put(m, "addr", s.addr);
    put(m, "id", s.id);
    put(m, "stream_id", s.stream_id);
    put(m, "cpu", s.cpu);
    put(m, "period", s.period);
    put(m, "read", s.read.as_ref().map(read_values));
    put(m, "callchain", s.callchain.clone());
    put(m, "raw", s.raw.map(hex));
    if let Some(b) = &s.branch_stack {
        let entries: Vec<Value> = b
            .entries
            .iter()
            .map(|e| json!({ "from": e.from, "to": e.to, "flags": e.flags }))
            .collect();
        let mut o = Map::new();
        put(&mut o, "hw_idx", b.hw_idx);
        o.insert("entries".into(), entries.into());
        put(&mut o, "counters", b.counters.clone());
        m.insert("branch_stack".into(), Value::Object(o));
    }
    put(m, "regs_user", s.regs_user.as_ref().map(regs));
    put(
        m,
        "stack_user",
        s.stack_user
            .map(|u| json!({ "size": u.data.len(), "dyn_size": u.dyn_size })),
    );
    put(
        m,
        "weight",
        s.weight.map(|w| match w {
            Weight::Full(v) => json!(v),
            Weight::Struct {
                var1_dw,
                var2_w,
                var3_w,
            } => json!({ "var1_dw": var1_dw, "var2_w": var2_w, "var3_w": var3_w }),
        }),
    );
    put(m, "data_src", s.data_src);
    put(m, "transaction", s.transaction);
    put(m, "regs_intr", s.regs_intr.as_ref().map(regs));
    put(m, "phys_addr", s.phys_addr);
    put(m, "cgroup", s.cgroup);
    put(m, "data_page_size", s.data_page_size);
    put(m, "code_page_size", s.code_page_size);
    put(m, "aux_size", s.aux.map(|a| a.len()));
}

fn sample_id(s: &SampleId) -> Value {
    let mut m = Map::new();
    put(&mut m, "pid", s.pid);
    put(&mut m, "tid", s.tid);
    put(&mut m, "time", s.time);
    put(&mut m, "id", s.id);
    put(&mut m, "stream_id", s.stream_id);
    put(&mut m, "cpu", s.cpu);
    put(&mut m, "identifier", s.identifier);
    Value::Object(m)
}

/// A record as a JSON object: `type` (the uapi name), `misc`, `event` (index), the
/// record's fields, and `sample_id` (the trailer) when present.
pub fn to_json(p: &ParsedRecord<'_>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), p.record.kind_name().into());
    m.insert("misc".into(), p.header.misc.into());
    put(&mut m, "event", p.event);
    match &p.record {
        Record::Sample(s) => sample(&mut m, s),
        Record::Mmap(r) => {
            m.insert("pid".into(), r.pid.into());
            m.insert("tid".into(), r.tid.into());
            m.insert("addr".into(), r.addr.into());
            m.insert("len".into(), r.len.into());
            m.insert("pgoff".into(), r.pgoff.into());
            m.insert("data".into(), r.data.into());
            m.insert("filename".into(), lossy(r.filename));
        }
        Record::Mmap2(r) => {
            m.insert("pid".into(), r.pid.into());
            m.insert("tid".into(), r.tid.into());
            m.insert("addr".into(), r.addr.into());
            m.insert("len".into(), r.len.into());
            m.insert("pgoff".into(), r.pgoff.into());
            match r.file_id {
                FileId::Inode {
                    maj,
                    min,
                    ino,
                    ino_generation,
                } => {
                    m.insert("maj".into(), maj.into());
                    m.insert("min".into(), min.into());
                    m.insert("ino".into(), ino.into());
                    m.insert("ino_generation".into(), ino_generation.into());
                }
                FileId::BuildId(b) => {
                    m.insert("build_id".into(), hex(b.as_bytes()));
                }
            }
            m.insert("prot".into(), r.prot.into());
            m.insert("flags".into(), r.flags.into());
            m.insert("data".into(), r.data.into());
            m.insert("filename".into(), lossy(r.filename));
        }
        Record::Lost(r) => {
            m.insert("id".into(), r.id.into());
            m.insert("lost".into(), r.lost.into());
        }
        Record::Comm(r) => {
            m.insert("pid".into(), r.pid.into());
            m.insert("tid".into(), r.tid.into());
            m.insert("exec".into(), r.exec.into());
            m.insert("comm".into(), lossy(r.comm));
        }
        Record::Exit(t) | Record::Fork(t) => {
            m.insert("pid".into(), t.pid.into());
            m.insert("ppid".into(), t.ppid.into());
            m.insert("tid".into(), t.tid.into());
            m.insert("ptid".into(), t.ptid.into());
            m.insert("time".into(), t.time.into());
        }
        Record::Throttle(t) | Record::Unthrottle(t) => {
            m.insert("time".into(), t.time.into());
            m.insert("id".into(), t.id.into());
            m.insert("stream_id".into(), t.stream_id.into());
        }
        Record::Read(r) => {
            m.insert("pid".into(), r.pid.into());
            m.insert("tid".into(), r.tid.into());
            m.insert("values".into(), read_values(&r.values));
        }
        Record::Aux(r) => {
            m.insert("aux_offset".into(), r.aux_offset.into());
            m.insert("aux_size".into(), r.aux_size.into());
            m.insert("flags".into(), r.flags.into());
        }
        Record::ItraceStart(r) => {
            m.insert("pid".into(), r.pid.into());
            m.insert("tid".into(), r.tid.into());
        }
        Record::LostSamples(r) => {
            m.insert("lost".into(), r.lost.into());
        }
        Record::Switch(s) | Record::SwitchCpuWide(s) => {
            m.insert("out".into(), s.out.into());
            m.insert("preempt".into(), s.preempt.into());
            if let Some((pid, tid)) = s.next_prev {
                m.insert("next_prev_pid".into(), pid.into());
                m.insert("next_prev_tid".into(), tid.into());
            }
        }
        Record::Namespaces(n) => {
            m.insert("pid".into(), n.pid.into());
            m.insert("tid".into(), n.tid.into());
            let links: Vec<Value> = n
                .links
                .iter()
                .map(|l| json!({ "dev": l.dev, "inode": l.inode }))
                .collect();
            m.insert("namespaces".into(), links.into());
        }
        Record::Ksymbol(k) => {
            m.insert("addr".into(), k.addr.into());
            m.insert("len".into(), k.len.into());
            m.insert("ksym_type".into(), k.ksym_type.into());
            m.insert("flags".into(), k.flags.into());
            m.insert("name".into(), lossy(k.name));
        }
        Record::BpfEvent(b) => {
            m.insert("bpf_event_type".into(), b.event_type.into());
            m.insert("flags".into(), b.flags.into());
            m.insert("id".into(), b.id.into());
            m.insert("tag".into(), hex(&b.tag));
        }
        Record::Cgroup(c) => {
            m.insert("id".into(), c.id.into());
            m.insert("path".into(), lossy(c.path));
        }
        Record::TextPoke(t) => {
            m.insert("addr".into(), t.addr.into());
            m.insert("old_bytes".into(), hex(t.old_bytes));
            m.insert("new_bytes".into(), hex(t.new_bytes));
        }
        Record::AuxOutputHwId(h) => {
            m.insert("hw_id".into(), h.hw_id.into());
        }
        Record::CallchainDeferred(c) => {
            m.insert("cookie".into(), c.cookie.into());
            m.insert("ips".into(), c.ips.clone().into());
        }
        Record::Raw(b) => {
            m.insert("record_type".into(), p.header.record_type.into());
            m.insert("payload".into(), hex(b));
        }
    }
    if let Some(s) = &p.sample_id {
        m.insert("sample_id".into(), sample_id(s));
    }
    Value::Object(m)
}

/// A record as one line of text: the type, then `key=value` for each field (nested
/// values in compact JSON).
pub fn to_line(p: &ParsedRecord<'_>) -> String {
    let Value::Object(m) = to_json(p) else {
        return String::new();
    };
    let mut line = String::new();
    for (k, v) in &m {
        if k == "type" {
            line.insert_str(0, v.as_str().unwrap_or("?"));
            continue;
        }
        line.push(' ');
        line.push_str(k);
        line.push('=');
        match v {
            Value::String(s) => line.push_str(s),
            other => line.push_str(&other.to_string()),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{bits::sample as st, EventFormat, ParseContext};

    fn rec(rtype: u32, misc: u16, body: &[u64]) -> Vec<u8> {
        let size = (8 + body.len() * 8) as u16;
        let mut v = Vec::new();
        v.extend_from_slice(&rtype.to_ne_bytes());
        v.extend_from_slice(&misc.to_ne_bytes());
        v.extend_from_slice(&size.to_ne_bytes());
        for w in body {
            v.extend_from_slice(&w.to_ne_bytes());
        }
        v
    }

    #[test]
    fn samples_render_their_fields_and_unknown_types_their_payload() {
        let ctx = ParseContext::single(EventFormat {
            sample_type: st::IP | st::PERIOD,
            ..Default::default()
        })
        .unwrap();
        let r = rec(9, 2, &[0x1234, 7]);
        let p = ctx.parse(&r).unwrap();
        let j = to_json(&p);
        assert_eq!(j["type"], "SAMPLE");
        assert_eq!(j["ip"], 0x1234);
        assert_eq!(j["period"], 7);
        assert_eq!(j["misc"], 2);
        assert!(j.get("addr").is_none());
        assert_eq!(to_line(&p), "SAMPLE event=0 ip=4660 misc=2 period=7");
        let r = rec(77, 0, &[0x0102]);
        let j = to_json(&ctx.parse(&r).unwrap());
        assert_eq!(j["type"], "RAW");
        assert_eq!(j["record_type"], 77);
        let hex: String = 0x0102u64
            .to_ne_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(j["payload"], hex.as_str());
    }
}
