//! Writing .scap files (see formats/scap.md).
