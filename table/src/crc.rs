//! CRC-32C (Castagnoli), the table's checksum.
//!
//! Polynomial 0x1EDC6F41 (reflected 0x82F63B78), initial value and final XOR
//! 0xFFFF_FFFF: the variant used by iSCSI, ext4 and SCTP (RFC 3720 §B.4). The
//! check value for the ASCII bytes `123456789` is `0xE306_9283`.

const POLY: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        #[expect(
            clippy::indexing_slicing,
            reason = "const evaluation: i < 256 by the loop bound, and an overrun fails the build"
        )]
        {
            table[i] = crc;
        }
        i += 1;
    }
    table
};

/// The CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        let idx = ((crc ^ u32::from(b)) & 0xFF) as u8;
        crc = (crc >> 8) ^ TABLE.get(usize::from(idx)).copied().unwrap_or(0);
    }
    crc ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }
}
