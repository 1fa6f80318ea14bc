package redisstore_test

import (
	"testing"

	"github.com/otpd/otpd/internal/testkit/redistest"
)

var redisServer *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, func(s *redistest.Server) { redisServer = s })
}
