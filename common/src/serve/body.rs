//! Response bodies: content coding by `Accept-Encoding`, and a body that holds its request's
//! slot until it has been handed to the connection.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

use super::connections::RequestGuard;
use crate::{
    MetricSet,
    encode::{Format, encode, encode_to},
};

/// The most bytes handed to the connection at once. HTTP/2 asks for the next piece only when the
/// client's flow-control window has room, so a client that never opens its window holds one
/// piece in the connection, not the whole answer; pieces are copies, so that a piece left behind
/// does not keep the whole answer alive.
const PIECE: usize = 16 * 1024;

/// A response body: bytes, the request's `--web.max-requests` slot and its connection
/// bookkeeping, released together when the last piece is taken or the body is dropped.
#[derive(Debug)]
pub(super) struct ResponseBody {
    data: Bytes,
    held: Option<(Option<OwnedSemaphorePermit>, RequestGuard)>,
}

impl ResponseBody {
    /// A body of `data` that releases `permit` and `request` once sent.
    pub(super) fn new(
        data: Bytes,
        permit: Option<OwnedSemaphorePermit>,
        request: RequestGuard,
    ) -> Self {
        request.response_ready();
        Self {
            data,
            held: Some((permit, request)),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            self.held = None;
            return Poll::Ready(None);
        }
        let n = self.data.len().min(PIECE);
        let piece = if n == self.data.len() {
            std::mem::take(&mut self.data)
        } else {
            let piece = Bytes::copy_from_slice(&self.data[..n]);
            self.data = self.data.slice(n..);
            piece
        };
        if self.data.is_empty() {
            self.held = None;
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// A content coding of the metrics answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coding {
    /// As is.
    Identity,
    /// gzip, as Prometheus asks for.
    Gzip,
}

impl Coding {
    /// Chooses by an `Accept-Encoding` header (RFC 9110 §12.5.3, with q-values): gzip when the
    /// client accepts it at least as much as identity (which, when not listed, is acceptable but
    /// comes last), otherwise identity (also when the client
    /// refuses both: an uncompressed answer is more useful than a 406).
    pub(super) fn negotiate(accept_encoding: Option<&str>) -> Coding {
        let Some(header) = accept_encoding else {
            return Coding::Identity;
        };
        let (mut gzip, mut identity, mut any) = (None, None, None);
        for item in header.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let mut q = Some(1.0_f32);
            for param in parts {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    // An unparsable or out-of-range q-value makes the element invalid.
                    q = v.trim().parse().ok().filter(|q| (0.0..=1.0).contains(q));
                }
            }
            let Some(q) = q else { continue };
            match name.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q),
                "identity" => identity = Some(q),
                "*" => any = Some(q),
                _ => {}
            }
        }
        let gzip = gzip.or(any).unwrap_or(0.0);
        // Not listed, identity is acceptable but least preferred.
        let identity = identity.or(any).unwrap_or(0.0);
        if gzip > 0.0 && gzip >= identity {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }

    /// `metrics` in `format` and this coding, and the `Content-Encoding` to send with it. gzip
    /// is fed as the text is encoded, so that a large answer (57 MB for 50,000 certificates)
    /// is never held uncompressed beside its compressed form.
    pub(super) fn encode(
        self,
        metrics: &MetricSet,
        format: Format,
    ) -> (Vec<u8>, Option<&'static str>) {
        match self {
            Coding::Identity => (encode(metrics, format).into_bytes(), None),
            Coding::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                match encode_to(&mut gz, metrics, format).and_then(|()| gz.finish()) {
                    Ok(compressed) => (compressed, Some("gzip")),
                    // Writing into a Vec cannot fail; were it to, the plain text still answers.
                    Err(_) => (encode(metrics, format).into_bytes(), None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn accept_encoding_with_q_values() {
        use Coding::*;
        for (header, want) in [
            (None, Identity),
            (Some(""), Identity),
            (Some("gzip"), Gzip),
            (Some("gzip, deflate, br"), Gzip),
            (Some("deflate"), Identity),
            (Some("GZIP;q=0.5"), Gzip),
            (Some("gzip;q=0"), Identity),
            (Some("gzip;q=0.5, identity;q=0.8"), Identity),
            (Some("gzip;q=0.8, identity;q=0.5"), Gzip),
            (Some("*"), Gzip),
            (Some("*;q=0.5, gzip;q=0"), Identity),
            (Some("identity;q=0, gzip;q=0"), Identity),
            (Some("gzip;q=2"), Identity),
            (Some("gzip;q=x, identity"), Identity),
            (Some("x-gzip"), Gzip),
        ] {
            assert_eq!(Coding::negotiate(header), want, "{header:?}");
        }
    }

    #[test]
    fn gzip_round_trip() {
        const UP: crate::Desc<1> = crate::Desc::gauge("sysgauge_test_up", "Up", ["thing"]);
        let mut metrics = MetricSet::new();
        for i in 0..10_000 {
            metrics.add(&UP, [format!("thing {i}")], 1.0);
        }
        let text = encode(&metrics, Format::Text).into_bytes();
        assert_eq!(
            Coding::Identity.encode(&metrics, Format::Text),
            (text.clone(), None)
        );
        let (gz, coding) = Coding::Gzip.encode(&metrics, Format::Text);
        assert_eq!(coding, Some("gzip"));
        assert!(gz.len() < text.len() / 10, "{} of {}", gz.len(), text.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }
}
