package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary serve as the broker benchmark's child
// process, as the benchmark binary does (brokerServerChild).
func TestMain(m *testing.M) {
	if child, err := brokerServerChild(); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, "broker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
