//! Serial numbers for modes and cursor shapes: they grow by one, wrap, and
//! skip 0, which means "none yet".

/// The serial after `serial`.
pub(crate) fn next(serial: u32) -> u32 {
    match serial.wrapping_add(1) {
        0 => 1,
        s => s,
    }
}

/// Whether serial `a` was handed out before `b`, allowing for wrap-around.
pub(crate) fn is_older(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_skip_zero_and_compare_across_wrap_around() {
        assert_eq!(next(u32::MAX), 1);
        assert_eq!(next(1), 2);
        assert!(is_older(1, 2));
        assert!(!is_older(2, 1));
        assert!(!is_older(5, 5));
        assert!(is_older(u32::MAX, 1));
        assert!(!is_older(1, u32::MAX));
    }
}
