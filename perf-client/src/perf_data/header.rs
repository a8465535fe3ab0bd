//! `struct perf_file_header` (104 bytes) and `struct perf_file_section`.

use super::{feature, PerfDataError};

/// `"PERFILE2"` as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"PERFILE2");
/// Size of `struct perf_file_header`.
pub const FILE_HEADER_SIZE: usize = 104;
/// Size of `struct perf_file_section`.
pub const SECTION_SIZE: usize = 16;

/// `struct perf_file_section { u64 offset; u64 size; }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSection {
    /// File offset of the section.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl FileSection {
    /// The first byte past the section, or `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_ne_bytes());
        out.extend_from_slice(&self.size.to_ne_bytes());
    }

    pub(crate) fn decode(b: &[u8]) -> Self {
        FileSection {
            offset: read_u64(b, 0),
            size: read_u64(b, 8),
        }
    }
}

/// `struct perf_file_header`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHeader {
    /// `attr_size`: bytes per attrs entry (`attr.size` + 16).
    pub attr_size: u64,
    /// The attrs section.
    pub attrs: FileSection,
    /// The data section (records).
    pub data: FileSection,
    /// `adds_features`: the 256-bit feature bitmap.
    pub features: [u64; 4],
}

impl FileHeader {
    /// Sets feature bit `bit`.
    pub fn set_feature(&mut self, bit: u32) {
        if bit < feature::BITS {
            self.features[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// True when feature bit `bit` is set.
    pub fn has_feature(&self, bit: u32) -> bool {
        bit < feature::BITS && self.features[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    /// The set feature bits in ascending order (the order of the feature table).
    pub fn feature_bits(&self) -> impl Iterator<Item = u32> + '_ {
        (0..feature::BITS).filter(|&b| self.has_feature(b))
    }

    /// The 104 bytes of the header.
    pub fn encode(&self) -> [u8; FILE_HEADER_SIZE] {
        let mut v = Vec::with_capacity(FILE_HEADER_SIZE);
        v.extend_from_slice(&MAGIC.to_le_bytes());
        v.extend_from_slice(&(FILE_HEADER_SIZE as u64).to_ne_bytes());
        v.extend_from_slice(&self.attr_size.to_ne_bytes());
        self.attrs.encode(&mut v);
        self.data.encode(&mut v);
        FileSection::default().encode(&mut v); // event_types: unused
        for w in self.features {
            v.extend_from_slice(&w.to_ne_bytes());
        }
        let mut out = [0u8; FILE_HEADER_SIZE];
        out.copy_from_slice(&v);
        out
    }

    /// Decodes and checks the header at the start of `file`.
    ///
    /// # Errors
    ///
    /// A format error with the offset of the bad field: wrong magic, pipe-mode or
    /// other-endian files, a header size other than 104, a zero `attr_size`, sections
    /// that overflow, overlap each other or the header, or end past the file.
    pub fn decode(file: &[u8]) -> Result<Self, PerfDataError> {
        Self::decode_for_len(file, file.len() as u64)
    }

    /// As [`FileHeader::decode`], with `file` holding at least the header's 104 bytes of
    /// a file `len` bytes long (the sections are checked against `len`).
    ///
    /// # Errors
    ///
    /// As [`FileHeader::decode`].
    pub fn decode_for_len(file: &[u8], len: u64) -> Result<Self, PerfDataError> {
        if file.len() < 16 || len < 16 {
            return Err(PerfDataError::Truncated {
                what: "perf_file_header",
                offset: 0,
                end: FILE_HEADER_SIZE as u64,
                len,
            });
        }
        let magic = read_u64(file, 0);
        if magic == MAGIC.swap_bytes() {
            return Err(PerfDataError::Unsupported {
                offset: 0,
                reason: "the file was written on a machine of the other endianness",
            });
        }
        if magic != MAGIC {
            return Err(PerfDataError::corrupt(
                0,
                format!("bad magic {magic:#018x}, expected \"PERFILE2\""),
            ));
        }
        let size = read_u64(file, 8);
        if size == 16 {
            return Err(PerfDataError::Unsupported {
                offset: 8,
                reason: "pipe-mode perf.data (written to a pipe) is not supported",
            });
        }
        if size != FILE_HEADER_SIZE as u64 {
            return Err(PerfDataError::corrupt(
                8,
                format!("header size {size}, expected {FILE_HEADER_SIZE}"),
            ));
        }
        if file.len() < FILE_HEADER_SIZE || len < FILE_HEADER_SIZE as u64 {
            return Err(PerfDataError::Truncated {
                what: "perf_file_header",
                offset: 0,
                end: FILE_HEADER_SIZE as u64,
                len,
            });
        }
        let mut h = FileHeader {
            attr_size: read_u64(file, 16),
            attrs: FileSection::decode(&file[24..40]),
            data: FileSection::decode(&file[40..56]),
            features: [0; 4],
        };
        for (i, w) in h.features.iter_mut().enumerate() {
            *w = read_u64(file, 72 + 8 * i);
        }
        if h.attr_size == 0 {
            return Err(PerfDataError::corrupt(16, "attr_size is 0"));
        }
        for (name, at, s) in [("attrs", 24u64, h.attrs), ("data", 40, h.data)] {
            let Some(end) = s.end() else {
                return Err(PerfDataError::corrupt(
                    at,
                    format!("{name} section {:#x}+{:#x} overflows", s.offset, s.size),
                ));
            };
            if s.size > 0 && s.offset < FILE_HEADER_SIZE as u64 {
                return Err(PerfDataError::corrupt(
                    at,
                    format!("{name} section at {:#x} overlaps the header", s.offset),
                ));
            }
            if end > len {
                return Err(PerfDataError::Truncated {
                    what: if name == "attrs" {
                        "attrs section"
                    } else {
                        "data section"
                    },
                    offset: s.offset,
                    end,
                    len,
                });
            }
        }
        let (a, d) = (h.attrs, h.data);
        if a.size > 0 && d.size > 0 && a.offset < d.offset + d.size && d.offset < a.offset + a.size
        {
            return Err(PerfDataError::corrupt(
                24,
                "the attrs and data sections overlap",
            ));
        }
        Ok(h)
    }
}

/// Reads a native-endian u64 at `at`; the caller has checked the bounds.
pub(crate) fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(x)
}

/// Reads a native-endian u32 at `at`; the caller has checked the bounds.
pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> FileHeader {
        let mut h = FileHeader {
            attr_size: 144,
            attrs: FileSection {
                offset: 104,
                size: 144,
            },
            data: FileSection {
                offset: 248,
                size: 8,
            },
            features: [0; 4],
        };
        h.set_feature(3);
        h.set_feature(70);
        h
    }

    #[test]
    fn header_round_trips_through_its_104_bytes() {
        let h = header();
        let mut file = h.encode().to_vec();
        file.resize(256, 0);
        assert_eq!(FileHeader::decode(&file).unwrap(), h);
        assert_eq!(h.feature_bits().collect::<Vec<_>>(), vec![3, 70]);
    }

    #[test]
    fn overlapping_sections_are_refused_with_the_attrs_field_offset() {
        let mut h = header();
        h.data.offset = 200;
        let mut file = h.encode().to_vec();
        file.resize(256, 0);
        let e = FileHeader::decode(&file).unwrap_err();
        assert_eq!(e.offset(), Some(24), "{e}");
    }

    #[test]
    fn data_section_past_the_end_is_a_truncation_at_its_offset() {
        let file = header().encode().to_vec();
        let e = FileHeader::decode(&file).unwrap_err();
        assert!(
            matches!(e, PerfDataError::Truncated { offset: 104, .. }),
            "{e}"
        );
    }

    #[test]
    fn byte_swapped_magic_is_reported_as_other_endian() {
        let mut file = header().encode().to_vec();
        file[..8].copy_from_slice(&MAGIC.swap_bytes().to_le_bytes());
        let e = FileHeader::decode(&file).unwrap_err();
        assert!(
            matches!(e, PerfDataError::Unsupported { offset: 0, .. }),
            "{e}"
        );
    }
}
