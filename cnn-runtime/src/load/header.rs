//! The header of a safetensors file, read without an allocator.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of JSON, and the
//! tensors' bytes. The JSON is an object: each tensor's name maps to
//! `{"dtype": "F32", "shape": [6, 1, 5, 5], "data_offsets": [begin, end]}` (offsets counted from
//! the end of the header), and an optional `__metadata__` object maps strings to strings.
//!
//! Nothing here trusts a number from the file: every offset and size is checked against the bytes
//! actually present before a slice is taken, products use checked arithmetic, nesting is bounded,
//! and nothing is allocated, so a hostile file costs at most one pass over its own bytes per call.

use core::fmt;

use crate::Error;

/// The most dimensions a tensor of a weight file may have (the networks' tensors have at most 5).
pub const MAX_RANK: usize = 8;

/// How deeply JSON values may nest (serde_json's default limit).
const MAX_DEPTH: usize = 128;

/// A tensor's shape as the file states it, without an allocator.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    dims: [usize; MAX_RANK],
    rank: usize,
}

impl Dims {
    /// The dimensions.
    pub fn as_slice(&self) -> &[usize] {
        &self.dims[..self.rank]
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::Shape(self.as_slice()).fmt(f)
    }
}

/// The element types of the safetensors format, with their widths in bits.
const DTYPES: [(&str, usize); 22] = [
    ("BOOL", 8),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("F8_E4M3FNUZ", 8),
    ("F8_E5M2FNUZ", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("C64", 64),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
];

/// A JSON string as it stands in the header: the bytes between the quotes, escapes undecoded
/// (they were checked when the string was read).
#[derive(Clone, Copy)]
pub struct Name<'a> {
    raw: &'a [u8],
    /// Byte offset of the opening quote in the file.
    pub at: usize,
}

impl<'a> Name<'a> {
    /// The decoded characters.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        let mut rest = self.raw;
        core::iter::from_fn(move || {
            let (c, len) = decode_char(rest).ok()?;
            rest = &rest[len..];
            Some(c)
        })
    }

    /// Whether the decoded string is `s`.
    pub fn is(&self, s: &str) -> bool {
        if !self.raw.contains(&b'\\') {
            return self.raw == s.as_bytes();
        }
        let mut mine = self.chars();
        let mut theirs = s.chars();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (a, b) if a == b => {}
                _ => return false,
            }
        }
    }

    /// Whether the decoded string ends with `s` (`s` without escapes).
    pub fn ends_with(&self, s: &str) -> bool {
        if !self.raw.contains(&b'\\') {
            return self.raw.ends_with(s.as_bytes());
        }
        let n = self.chars().count();
        let m = s.chars().count();
        n >= m && self.chars().skip(n - m).eq(s.chars())
    }
}

/// The decoded string.
impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chars().try_for_each(|c| fmt::Write::write_char(f, c))
    }
}

/// The first character of a JSON string's raw bytes and how many bytes it takes: an escape
/// (`\n`, `\u00e9`, a surrogate pair) or one UTF-8 character.
fn decode_char(raw: &[u8]) -> Result<(char, usize), &'static str> {
    match raw {
        [] => Err("unterminated string"),
        [b'\\', rest @ ..] => match rest {
            [b'"', ..] => Ok(('"', 2)),
            [b'\\', ..] => Ok(('\\', 2)),
            [b'/', ..] => Ok(('/', 2)),
            [b'b', ..] => Ok(('\u{8}', 2)),
            [b'f', ..] => Ok(('\u{c}', 2)),
            [b'n', ..] => Ok(('\n', 2)),
            [b'r', ..] => Ok(('\r', 2)),
            [b't', ..] => Ok(('\t', 2)),
            [b'u', rest @ ..] => {
                let hi = hex4(rest)?;
                if !(0xd800..0xe000).contains(&hi) {
                    return char::from_u32(hi).map(|c| (c, 6)).ok_or("invalid escape");
                }
                if hi >= 0xdc00 {
                    return Err("lone surrogate in a string escape");
                }
                match rest.get(4..) {
                    Some([b'\\', b'u', low @ ..]) => {
                        let lo = hex4(low)?;
                        if !(0xdc00..0xe000).contains(&lo) {
                            return Err("lone surrogate in a string escape");
                        }
                        let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                        char::from_u32(c).map(|c| (c, 12)).ok_or("invalid escape")
                    }
                    _ => Err("lone surrogate in a string escape"),
                }
            }
            _ => Err("invalid escape in a string"),
        },
        [c, ..] if *c < 0x20 => Err("control character in a string"),
        _ => {
            // The header was checked to be UTF-8, so a character starts here; its length is
            // given by its first byte.
            let len = match raw[0] {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let s = raw
                .get(..len)
                .and_then(|b| core::str::from_utf8(b).ok())
                .ok_or("invalid UTF-8 in a string")?;
            s.chars().next().map(|c| (c, len)).ok_or("invalid UTF-8")
        }
    }
}

/// Four hexadecimal digits.
fn hex4(b: &[u8]) -> Result<u32, &'static str> {
    let digits = b.get(..4).ok_or("short unicode escape")?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = char::from(d).to_digit(16).ok_or("invalid unicode escape")?;
        Ok(acc * 16 + v)
    })
}

/// One tensor of the file, checked: its type is a safetensors type, its bytes lie inside the
/// file and their count is what the type and shape make.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub name: Name<'a>,
    /// The type's name as written: `F32`, `BF16`, `I64`, ...
    pub dtype: &'static str,
    pub shape: Dims,
    pub data: &'a [u8],
}

/// A safetensors file whose header has been read through once and found well formed.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    /// The whole file.
    file: &'a [u8],
    /// The JSON text: `file[8..8 + n]`.
    json_end: usize,
}

impl<'a> Header<'a> {
    /// Checks the header length and every entry of the header.
    ///
    /// # Errors
    /// [`Error::Format`] saying what is wrong and at which byte of the file.
    pub fn parse(file: &'a [u8]) -> Result<Self, Error> {
        let fail = |what, at| Error::Format { what, at };
        let Some((len, _)) = file.split_first_chunk::<8>() else {
            return Err(fail("shorter than the 8-byte header length", 0));
        };
        let n = u64::from_le_bytes(*len);
        let json_end = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(8))
            .filter(|&end| end <= file.len())
            .ok_or(fail("the header length runs past the end of the file", 0))?;
        if let Err(e) = core::str::from_utf8(&file[8..json_end]) {
            return Err(fail("the header is not UTF-8", 8 + e.valid_up_to()));
        }
        let header = Header { file, json_end };
        for entry in header.entries() {
            entry?;
        }
        Ok(header)
    }

    /// The tensors, in the order of the header, each checked (`__metadata__` skipped).
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry<'a>, Error>> + 'a {
        let mut json = Json {
            file: self.file,
            pos: 8,
            end: self.json_end,
        };
        let data = &self.file[self.json_end..];
        let mut state = State::Start;
        core::iter::from_fn(move || {
            let step = json.next_entry(&mut state, data);
            if step.is_err() {
                state = State::Done;
            }
            step.transpose()
        })
    }
}

/// Where the walk through the top-level object stands.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Start,
    Members,
    Done,
}

/// A cursor in the header's JSON text; positions are offsets in the file.
struct Json<'a> {
    file: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Json<'a> {
    fn fail<T>(&self, what: &'static str) -> Result<T, Error> {
        Err(Error::Format { what, at: self.pos })
    }

    fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.file[self.pos])
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then takes `byte` or fails with `what`.
    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Error> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// After a value inside `open ... close`: true if another follows (a comma was taken),
    /// false at the closing bracket (taken).
    fn more(&mut self, close: u8) -> Result<bool, Error> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ if close == b'}' => self.fail("expected `,` or `}`"),
            _ => self.fail("expected `,` or `]`"),
        }
    }

    /// Takes an opening bracket; true if the container is empty (its closing bracket taken too).
    fn open(&mut self, open: u8, close: u8, what: &'static str) -> Result<bool, Error> {
        self.expect(open, what)?;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn string(&mut self) -> Result<Name<'a>, Error> {
        self.expect(b'"', "expected a string")?;
        let at = self.pos - 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return self.fail("unterminated string"),
                Some(b'"') => break,
                Some(_) => match decode_char(&self.file[self.pos..self.end]) {
                    Ok((_, len)) => self.pos += len,
                    Err(what) => return self.fail(what),
                },
            }
        }
        let raw = &self.file[start..self.pos];
        self.pos += 1;
        Ok(Name { raw, at })
    }

    /// A non-negative integer that fits `usize`; an error points at the number's start.
    fn integer(&mut self) -> Result<usize, Error> {
        self.skip_ws();
        let start = self.pos;
        let mut value = Some(0usize);
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(usize::from(d - b'0')));
            self.pos += 1;
        }
        let digits = self.pos > start;
        let fraction = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        self.pos = start;
        match value {
            _ if !digits => self.fail("expected a non-negative integer"),
            _ if fraction => self.fail("expected an integer"),
            None => self.fail("a number too large"),
            Some(v) => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
                Ok(v)
            }
        }
    }

    /// Skips any JSON value (for `__metadata__` and fields the format may add).
    fn skip_value(&mut self, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return self.fail("values nested too deeply");
        }
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => {
                if self.open(b'{', b'}', "expected `{`")? {
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':', "expected `:`")?;
                    self.skip_value(depth + 1)?;
                    if !self.more(b'}')? {
                        return Ok(());
                    }
                }
            }
            Some(b'[') => {
                if self.open(b'[', b']', "expected `[`")? {
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if !self.more(b']')? {
                        return Ok(());
                    }
                }
            }
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
                let text = &self.file[start..self.pos];
                // The characters are ASCII, so this is a `str`; JSON numbers parse as f64.
                match core::str::from_utf8(text).map(str::parse::<f64>) {
                    Ok(Ok(_)) if text[0] != b'+' && text[0] != b'.' => Ok(()),
                    _ => {
                        self.pos = start;
                        self.fail("invalid number")
                    }
                }
            }
            _ => self.fail("expected a value"),
        }
    }

    fn word(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.file[self.pos..self.end].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail("expected a value")
        }
    }

    /// Reads up to the next tensor entry of the top-level object.
    fn next_entry(
        &mut self,
        state: &mut State,
        data: &'a [u8],
    ) -> Result<Option<Entry<'a>>, Error> {
        loop {
            match *state {
                State::Done => return Ok(None),
                State::Start => {
                    *state = State::Members;
                    if self.open(b'{', b'}', "the header is not a JSON object")? {
                        *state = State::Done;
                        return self.finish().map(|()| None);
                    }
                }
                State::Members => {}
            }
            let name = self.string()?;
            self.expect(b':', "expected `:`")?;
            let entry = if name.is("__metadata__") {
                self.skip_ws();
                if self.peek() != Some(b'{') {
                    return self.fail("`__metadata__` is not an object");
                }
                self.skip_value(1)?;
                None
            } else {
                Some(self.tensor(name, data)?)
            };
            if !self.more(b'}')? {
                *state = State::Done;
                self.finish()?;
            }
            if entry.is_some() {
                return Ok(entry);
            }
            if *state == State::Done {
                return Ok(None);
            }
        }
    }

    /// After the top-level object: only whitespace (safetensors pads the header with spaces).
    fn finish(&mut self) -> Result<(), Error> {
        self.skip_ws();
        if self.pos != self.end {
            return self.fail("text after the header's JSON object");
        }
        Ok(())
    }

    /// A tensor's description: `{"dtype": ..., "shape": [...], "data_offsets": [begin, end]}`.
    fn tensor(&mut self, name: Name<'a>, data: &'a [u8]) -> Result<Entry<'a>, Error> {
        let start = self.pos;
        let mut dtype = None;
        let mut shape = None;
        let mut offsets = None;
        if self.open(b'{', b'}', "a tensor's description is not an object")? {
            return self.fail("a tensor lacks `dtype`, `shape` and `data_offsets`");
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "expected `:`")?;
            if key.is("dtype") {
                if dtype.is_some() {
                    return self.fail("`dtype` given twice");
                }
                let value = self.string()?;
                let Some(&(known, bits)) = DTYPES.iter().find(|(d, _)| value.is(d)) else {
                    self.pos = value.at;
                    return self.fail("unknown dtype");
                };
                dtype = Some((known, bits));
            } else if key.is("shape") {
                if shape.is_some() {
                    return self.fail("`shape` given twice");
                }
                shape = Some(self.dims()?);
            } else if key.is("data_offsets") {
                if offsets.is_some() {
                    return self.fail("`data_offsets` given twice");
                }
                self.expect(b'[', "`data_offsets` is not an array")?;
                let begin = self.integer()?;
                self.expect(b',', "`data_offsets` needs two offsets")?;
                let end = self.integer()?;
                self.expect(b']', "`data_offsets` needs two offsets")?;
                offsets = Some((begin, end));
            } else {
                self.skip_value(2)?;
            }
            if !self.more(b'}')? {
                break;
            }
        }
        let at = start;
        let fail = |what| Err(Error::Format { what, at });
        let (Some((dtype, bits)), Some(shape), Some((begin, end))) = (dtype, shape, offsets) else {
            return fail("a tensor lacks `dtype`, `shape` or `data_offsets`");
        };
        if begin > end {
            return fail("a tensor's data ends before it begins");
        }
        let Some(bytes) = data.get(begin..end) else {
            return fail("a tensor's data runs past the end of the file");
        };
        let bits_needed = shape
            .as_slice()
            .iter()
            .try_fold(bits, |acc, &d| acc.checked_mul(d));
        match (bits_needed, bytes.len().checked_mul(8)) {
            (Some(a), Some(b)) if a == b => {}
            _ => return fail("a tensor's byte count is not what its dtype and shape make"),
        }
        Ok(Entry {
            name,
            dtype,
            shape,
            data: bytes,
        })
    }

    /// A shape: an array of at most `MAX_RANK` non-negative integers.
    fn dims(&mut self) -> Result<Dims, Error> {
        let mut dims = Dims {
            dims: [0; MAX_RANK],
            rank: 0,
        };
        if self.open(b'[', b']', "`shape` is not an array")? {
            return Ok(dims);
        }
        loop {
            if dims.rank == MAX_RANK {
                return self.fail("a shape of more than 8 dimensions");
            }
            dims.dims[dims.rank] = self.integer()?;
            dims.rank += 1;
            if !self.more(b']')? {
                return Ok(dims);
            }
        }
    }
}
