package redistest

import (
	"fmt"
	"os"
	"testing"
)

// Main is a TestMain body: it starts one throw-away server for the
// package's tests, hands it to set, runs them and stops the server.
func Main(m *testing.M, set func(*Server)) {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	set(s)
	code := m.Run()
	s.Close()
	os.Exit(code)
}
