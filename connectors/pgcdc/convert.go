package pgcdc

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Values of decimal.handling.mode.
const (
	decimalString  = "string"  // numeric as its text form (this package's default)
	decimalDouble  = "double"  // numeric as a float64
	decimalPrecise = "precise" // numeric as Debezium's Decimal / VariableScaleDecimal (Debezium's default)
)

// decodeText turns a column's text form (as pgoutput and the simple query
// protocol send it, with DateStyle=ISO) into the value Debezium's
// PostgreSQL connector gives by default (see the package comment for the
// table). A text form that cannot be read as its type is returned as the
// string it is.
func decodeText(col column, data []byte, decimalMode string) any {
	s := string(data)
	switch col.oid {
	case pgtype.BoolOID:
		switch s {
		case "t":
			return true
		case "f":
			return false
		}
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case pgtype.Float4OID, pgtype.Float8OID:
		if f, ok := parseFinite(s); ok {
			return f
		}
	case pgtype.NumericOID:
		return decodeNumeric(s, col.typmod, decimalMode)
	case pgtype.ByteaOID:
		if b, ok := decodeBytea(s); ok {
			return b
		}
	case pgtype.DateOID:
		if d, ok := parseDate(s); ok {
			return d
		}
	case pgtype.TimestampOID:
		if t, ok := parseTimestamp(s, false); ok {
			return t.Unix()*1e6 + int64(t.Nanosecond()/1e3)
		}
	case pgtype.TimestamptzOID:
		if t, ok := parseTimestamp(s, true); ok {
			if y := t.Year(); y >= 0 && y <= 9999 {
				return t.UTC().Format(time.RFC3339Nano)
			}
		}
	case pgtype.TimeOID:
		if us, ok := parseTimeOfDay(s); ok {
			return us
		}
	}
	// text, varchar, char, uuid, json, jsonb, and every other type.
	return s
}

// parseFinite parses a float's text form; NaN and the infinities are not
// JSON numbers, so they are left as text.
func parseFinite(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// numericScale is the declared scale of a numeric column's type modifier,
// and false for an unconstrained numeric.
func numericScale(typmod int32) (int32, bool) {
	if typmod < 4 { // -1: no precision or scale
		return 0, false
	}
	// ((precision << 16) | scale) + 4, the scale an 11-bit signed number (PostgreSQL 15).
	sc := (typmod - 4) & 0x7ff
	if sc&0x400 != 0 {
		sc -= 0x800
	}
	return sc, true
}

func decodeNumeric(s string, typmod int32, mode string) any {
	switch mode {
	case decimalDouble:
		if f, ok := parseFinite(s); ok {
			return f
		}
		return s
	case decimalPrecise:
		unscaled, scale, ok := parseDecimal(s)
		if !ok {
			return s // NaN and the infinities: Debezium's precise mode cannot carry them either
		}
		declared, constrained := numericScale(typmod)
		if !constrained {
			// io.debezium.data.VariableScaleDecimal
			return map[string]any{"scale": int64(scale), "value": twosComplement(unscaled)}
		}
		if unscaled, ok = rescale(unscaled, scale, declared); !ok {
			return s
		}
		// org.apache.kafka.connect.data.Decimal with the column's scale
		return twosComplement(unscaled)
	}
	return s
}

// parseDecimal reads a numeric's text form ([-]digits[.digits]) as an
// unscaled integer and a scale.
func parseDecimal(s string) (*big.Int, int32, bool) {
	digits := s
	neg := false
	if strings.HasPrefix(digits, "-") {
		neg, digits = true, digits[1:]
	}
	var scale int32
	if i := strings.IndexByte(digits, '.'); i >= 0 {
		scale = int32(len(digits) - i - 1)
		digits = digits[:i] + digits[i+1:]
	}
	if digits == "" {
		return nil, 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, 0, false
		}
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, 0, false
	}
	if neg {
		n.Neg(n)
	}
	return n, scale, true
}

// rescale gives the unscaled value of n×10^-from at scale to, when that is exact.
func rescale(n *big.Int, from, to int32) (*big.Int, bool) {
	switch {
	case to == from:
		return n, true
	case to > from:
		f := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-from)), nil)
		return new(big.Int).Mul(n, f), true
	}
	f := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(from-to)), nil)
	q, r := new(big.Int).QuoRem(n, f, new(big.Int))
	return q, r.Sign() == 0
}

// twosComplement is n in big-endian two's complement in the fewest bytes,
// as Java's BigInteger.toByteArray gives it (Kafka Connect's Decimal).
func twosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	m := new(big.Int).Add(n, big.NewInt(1)) // -m = |n|-1 >= 0
	m.Neg(m)
	size := m.BitLen()/8 + 1
	v := new(big.Int).Lsh(big.NewInt(1), uint(8*size))
	v.Add(v, n)
	return v.FillBytes(make([]byte, size))
}

// decodeBytea reads bytea's hex output (bytea_output=hex, the default).
func decodeBytea(s string) ([]byte, bool) {
	if !strings.HasPrefix(s, `\x`) {
		return nil, false
	}
	b := make([]byte, (len(s)-2)/2)
	if (len(s)-2)%2 != 0 {
		return nil, false
	}
	for i := range b {
		hi, ok1 := unhex(s[2+2*i])
		lo, ok2 := unhex(s[3+2*i])
		if !ok1 || !ok2 {
			return nil, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseYMD reads an ISO date, y-m-d with an optional " BC" suffix (year 1
// BC is year 0).
func parseYMD(s string) (y, m, d int, rest string, ok bool) {
	i := strings.IndexByte(s, '-')
	if i <= 0 || len(s) < i+6 || s[i+3] != '-' {
		return 0, 0, 0, "", false
	}
	var err1, err2, err3 error
	y, err1 = strconv.Atoi(s[:i])
	m, err2 = strconv.Atoi(s[i+1 : i+3])
	d, err3 = strconv.Atoi(s[i+4 : i+6])
	if err1 != nil || err2 != nil || err3 != nil || y <= 0 || s[0] == '+' {
		return 0, 0, 0, "", false
	}
	return y, m, d, s[i+6:], true
}

func bc(year int, rest string) (int, string) {
	if strings.HasSuffix(rest, " BC") {
		return 1 - year, strings.TrimSuffix(rest, " BC")
	}
	return year, rest
}

// parseDate gives a date's days since 1970-01-01 (io.debezium.time.Date).
func parseDate(s string) (int64, bool) {
	y, m, d, rest, ok := parseYMD(s)
	if !ok {
		return 0, false // infinity, -infinity
	}
	y, rest = bc(y, rest)
	if rest != "" {
		return 0, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400, true
}

// parseTimeOfDay reads hh:mm:ss[.ffffff] as microseconds since midnight
// (io.debezium.time.MicroTime); 24:00:00 is a valid time.
func parseTimeOfDay(s string) (int64, bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[0:2])
	mi, err2 := strconv.Atoi(s[3:5])
	sec, err3 := strconv.Atoi(s[6:8])
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	var us int64
	if frac := s[8:]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 7 {
			return 0, false
		}
		f, err := strconv.Atoi((frac[1:] + "000000")[:6])
		if err != nil || f < 0 {
			return 0, false
		}
		us = int64(f)
	}
	return (int64(h)*3600+int64(mi)*60+int64(sec))*1e6 + us, true
}

// parseTimestamp reads an ISO timestamp, "y-m-d hh:mm:ss[.ffffff]" then,
// withZone, an offset ±hh[:mm[:ss]], then an optional " BC".
func parseTimestamp(s string, withZone bool) (time.Time, bool) {
	y, mo, d, rest, ok := parseYMD(s)
	if !ok || len(rest) < 9 || rest[0] != ' ' {
		return time.Time{}, false // infinity, -infinity
	}
	y, rest = bc(y, rest)
	rest = rest[1:]
	off := 0
	if withZone {
		i := strings.LastIndexAny(rest, "+-")
		if i < 8 {
			return time.Time{}, false
		}
		var ok bool
		if off, ok = parseOffset(rest[i:]); !ok {
			return time.Time{}, false
		}
		rest = rest[:i]
	}
	us, ok := parseTimeOfDay(rest)
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Add(time.Duration(us) * time.Microsecond)
	return t.Add(-time.Duration(off) * time.Second), true
}

// parseOffset reads ±hh[:mm[:ss]] as seconds east of UTC.
func parseOffset(s string) (int, bool) {
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	parts := strings.Split(s[1:], ":")
	if len(parts) > 3 {
		return 0, false
	}
	secs := 0
	for i, p := range parts {
		if len(p) != 2 {
			return 0, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, false
		}
		secs += n * [...]int{3600, 60, 1}[i]
	}
	return sign * secs, true
}
