package oapi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The generated client is what api/openapi.yaml says today: a change to
// the document without `make generate` fails here (and so in CI).
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oapi-codegen")
	}
	// The same configuration, writing elsewhere (oapi-codegen's -o does
	// not override a configuration's output).
	dir := t.TempDir()
	cfg, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "oapi.gen.go")
	cfg = bytes.Replace(cfg, []byte("output: oapi.gen.go"), []byte("output: "+out), 1)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "-modfile=../../../internal/tools/external/go.mod", "oapi-codegen",
		"-config", filepath.Join(dir, "config.yaml"), "../../../api/openapi.yaml")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("oapi.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("client/internal/oapi/oapi.gen.go is stale: api/openapi.yaml changed; run `make generate` and commit the result")
	}
}
