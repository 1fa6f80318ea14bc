package logmask_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/logmask"
)

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+14155552671":                        "+1415******71",
		"to +447400123456 failed":             "to +4474******56 failed",
		"The 'To' number +14155552671 is not": "The 'To' number +1415******71 is not",
		"no number here 123":                  "no number here 123",
		"+123":                                "+123",
		"+1 415 555 2671":                     "+1 41******71",
		"to=%2B14155552671&x":                 "to=+1415******71&x",
	} {
		if got := logmask.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHandlerMasksEverywhere(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logmask.New(slog.NewJSONHandler(&buf, nil))).With("to", "+14155552671")
	log.WithGroup("g").Info("sending to +14155552672",
		"err", errors.New("Status: 400 - ApiError 21211: The 'To' number +14155552673 is not valid"),
		slog.Group("nested", "n", "+14155552674"), "count", 3)
	out := buf.String()
	for _, n := range []string{"4155552671", "4155552672", "4155552673", "4155552674"} {
		if strings.Contains(out, n) {
			t.Fatalf("number %s in log: %s", n, out)
		}
	}
	if !strings.Contains(out, `"count":3`) || !strings.Contains(out, "+1415******73") {
		t.Fatalf("log lost data: %s", out)
	}
}
