//! Crash-safe counters in a small file: two slots written alternately, each with a
//! generation and a checksum. A process killed (`SIGKILL`) in the middle of a `pwrite`
//! leaves at worst one torn slot, which fails its checksum; the other slot holds the
//! previous commit. So a restarted process always resumes from its last complete commit.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u64 = u64::from_le_bytes(*b"PRBSOAK1");
/// Words of user data per slot.
pub const WORDS: usize = 16;
const SLOT_WORDS: usize = WORDS + 3; // magic, generation, data, checksum
const SLOT_BYTES: usize = SLOT_WORDS * 8;

/// A two-slot commit file of [`WORDS`] u64 counters.
#[derive(Debug)]
pub struct Slots {
    file: File,
    generation: u64,
}

impl Slots {
    /// Opens (creating if needed) the file at `path`.
    ///
    /// # Errors
    ///
    /// The open error.
    pub fn open(path: &Path) -> io::Result<Slots> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut slots = Slots {
            file,
            generation: 0,
        };
        if let Some((generation, _)) = slots.load_newest()? {
            slots.generation = generation;
        }
        Ok(slots)
    }

    /// The data of the newest complete commit, or `None` if nothing was committed.
    ///
    /// # Errors
    ///
    /// The read error.
    pub fn load(&self) -> io::Result<Option<[u64; WORDS]>> {
        Ok(self.load_newest()?.map(|(_, words)| words))
    }

    fn load_newest(&self) -> io::Result<Option<(u64, [u64; WORDS])>> {
        let mut best: Option<(u64, [u64; WORDS])> = None;
        for slot in 0..2u64 {
            let mut raw = [0u8; SLOT_BYTES];
            let got = read_at_most(&self.file, &mut raw, slot * SLOT_BYTES as u64)?;
            if got < SLOT_BYTES {
                continue;
            }
            let word = |i: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&raw[i * 8..i * 8 + 8]);
                u64::from_le_bytes(w)
            };
            let all: Vec<u64> = (0..SLOT_WORDS).map(word).collect();
            if all[0] != MAGIC || checksum(&all[..SLOT_WORDS - 1]) != all[SLOT_WORDS - 1] {
                continue;
            }
            let generation = all[1];
            let mut data = [0u64; WORDS];
            data.copy_from_slice(&all[2..2 + WORDS]);
            if best.is_none_or(|(g, _)| generation > g) {
                best = Some((generation, data));
            }
        }
        Ok(best)
    }

    /// Commits `data`: written into the slot not holding the newest commit, so the newest
    /// commit survives a torn write.
    ///
    /// # Errors
    ///
    /// The write error.
    pub fn commit(&mut self, data: &[u64; WORDS]) -> io::Result<()> {
        let generation = self.generation.wrapping_add(1);
        let mut all = [0u64; SLOT_WORDS];
        all[0] = MAGIC;
        all[1] = generation;
        all[2..2 + WORDS].copy_from_slice(data);
        all[SLOT_WORDS - 1] = checksum(&all[..SLOT_WORDS - 1]);
        let mut raw = [0u8; SLOT_BYTES];
        for (i, w) in all.iter().enumerate() {
            raw[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        self.file
            .write_all_at(&raw, (generation % 2) * SLOT_BYTES as u64)?;
        self.generation = generation;
        Ok(())
    }
}

fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// FNV-1a over the words: detects a torn slot (not an adversary).
fn checksum(words: &[u64]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in words {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_newest_slot_falls_back_to_the_previous_commit() {
        let dir = std::env::temp_dir().join(format!("soak-slots-{}", std::process::id()));
        let mut s = Slots::open(&dir).unwrap();
        assert_eq!(s.load().unwrap(), None);
        let mut a = [0u64; WORDS];
        a[0] = 1;
        s.commit(&a).unwrap();
        a[0] = 2;
        s.commit(&a).unwrap();
        assert_eq!(s.load().unwrap().unwrap()[0], 2);
        // Tear the newest slot (generation 2 lives in slot 0).
        s.file.write_all_at(&[0xff; 8], 3 * 8).unwrap();
        let reopened = Slots::open(&dir).unwrap();
        assert_eq!(reopened.load().unwrap().unwrap()[0], 1);
        std::fs::remove_file(&dir).unwrap();
    }
}
