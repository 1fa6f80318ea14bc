package otp_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/otpd/otpd/redistest"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	redisServer = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}
