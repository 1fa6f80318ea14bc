// Command funclen lists the functions longer than -max lines in the Go
// files of the given directories (recursively), leaving out tests,
// generated code and the tools: `make lint` fails while any product
// function is longer than 80 lines.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	limit := flag.Int("max", 80, "the most lines a function may have")
	flag.Parse()
	long, err := scan(flag.Args(), *limit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	for _, l := range long {
		fmt.Println(l)
	}
	if len(long) > 0 {
		fmt.Fprintf(os.Stderr, "funclen: %d functions over %d lines\n", len(long), *limit)
		os.Exit(1)
	}
}

// scan lists "file:line: name is N lines" for every function over limit.
func scan(dirs []string, limit int) ([]string, error) {
	var long []string
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if skipDir(path) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			if ast.IsGenerated(f) {
				return nil
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
				if n := end.Line - start.Line + 1; n > limit {
					long = append(long, fmt.Sprintf("%s:%d: %s is %d lines", path, start.Line, fn.Name.Name, n))
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(long)
	return long, nil
}

// skipDir leaves out the rig: test support, suites and tools.
func skipDir(path string) bool {
	for _, rig := range []string{"testkit", "suites", "tools", ".git"} {
		if filepath.Base(path) == rig {
			return true
		}
	}
	return false
}
