package storage

import "errors"

// Errors returned by this package. Callers classify them with errors.Is; every returned error
// wraps one of these (or an I/O error) with context such as the offset, byte position or file.
var (
	// ErrCorruptBatch reports a record batch whose framing or CRC-32C is wrong: too short, a
	// batchLength that disagrees with the bytes present, or a checksum mismatch.
	// The broker answers CORRUPT_MESSAGE.
	ErrCorruptBatch = errors.New("storage: corrupt record batch")

	// ErrUnsupportedMagic reports a batch whose magic byte is not 2 (message formats v0 and v1
	// are not accepted). The broker answers UNSUPPORTED_FOR_MESSAGE_FORMAT.
	ErrUnsupportedMagic = errors.New("storage: unsupported record batch magic")

	// ErrInvalidBatch reports a well-framed batch whose header makes no sense: a record count of
	// zero or less, a lastOffsetDelta that disagrees with the record count, an unknown
	// compression codec, or an empty input. The broker answers INVALID_RECORD or CORRUPT_MESSAGE.
	ErrInvalidBatch = errors.New("storage: invalid record batch")

	// ErrOffsetOutOfRange reports a read below the log start offset or above the end offset.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")

	// ErrClosed is returned by every operation on a Log after Close or Delete.
	ErrClosed = errors.New("storage: log closed")
)
