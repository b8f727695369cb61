package broker

import "testing"

func TestFrameClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{100, -1}, {framePoolMin / 2, -1}, {framePoolMin/2 + 1, 0}, {framePoolMin, 0}, {framePoolMin + 1, 1},
		{1 << 20, 4}, {1<<20 + 1, 5}, {16 << 20, 8}, {16<<20 + 1, -1},
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
