package broker

import "testing"

func TestFrameClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, 0}, {100, 0}, {framePoolMin, 0}, {framePoolMin + 1, 1},
		{1 << 20, 10}, {1<<20 + 1, 11}, {16 << 20, 14}, {16<<20 + 1, -1},
	} {
		if got := frameClass(c.n); got != c.class {
			t.Errorf("frameClass(%d) = %d, want %d", c.n, got, c.class)
		}
		if c.class >= 0 && c.n > framePoolMin<<c.class {
			t.Errorf("class %d buffers (%d bytes) cannot hold %d", c.class, framePoolMin<<c.class, c.n)
		}
	}
	b := getFrame(1 << 20)
	if len(b) != 1<<20 || cap(b) != 1<<20 {
		t.Fatalf("getFrame(1 MiB): len %d cap %d", len(b), cap(b))
	}
	putFrame(b)
	putFrame(make([]byte, 3<<20)) // not a pool size: ignored
	if b := getFrame(900 << 10); len(b) != 900<<10 || cap(b) != 1<<20 {
		t.Errorf("getFrame(900 KiB): len %d cap %d, want a 1 MiB buffer", len(b), cap(b))
	}
}

func TestRecyclable(t *testing.T) {
	for _, c := range []struct {
		body []byte
		want bool
	}{
		{[]byte{0, 0, 0, 9}, true},   // Produce v9
		{[]byte{0, 1, 0, 12}, true},  // Fetch v12
		{[]byte{0, 3, 0, 12}, false}, // Metadata
		{[]byte{0, 11, 0, 5}, false}, // JoinGroup: its protocol metadata aliases the frame
		{[]byte{0}, false},
		{nil, false},
	} {
		if got := recyclable(c.body); got != c.want {
			t.Errorf("recyclable(% x) = %v, want %v", c.body, got, c.want)
		}
	}
}
