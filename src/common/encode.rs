//! Postcard encoding straight into a `Vec` the caller owns (protocol frames, journal records,
//! the in-memory event history), so the caller decides its size and nothing is copied after.

use serde::Serialize;

/// Appends the postcard encoding of `value` to `buf`.
pub fn encode_into<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> postcard::Result<()> {
    postcard::serialize_with_flavor(value, VecTail(buf))
}

/// A postcard output that appends to a borrowed `Vec`.
struct VecTail<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for VecTail<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::encode_into;

    /// The same bytes as postcard's own encoder, appended after what the buffer holds.
    #[test]
    fn appends_what_postcard_encodes() {
        let value = (
            7u64,
            "a string longer than sixteen bytes",
            vec![1u32, 300, 70_000],
            -5i64,
        );
        let mut buf = vec![9u8];
        encode_into(&mut buf, &value).unwrap();
        assert_eq!(buf[0], 9);
        assert_eq!(&buf[1..], postcard::to_allocvec(&value).unwrap().as_slice());
    }
}
