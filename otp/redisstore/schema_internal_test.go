package redisstore

import (
	"regexp"
	"strings"
	"testing"
)

// Every script compiles: each name of the schema it uses exists (compile
// panics otherwise), none is left for Lua to read as nil, and the tables
// it indexes by a variable are defined in front of it.
func TestScriptsCompileAgainstTheSchema(t *testing.T) {
	left := regexp.MustCompile(`\b(F|ST|STATUS|DS|DELIVERY|RANK|CH|CHANNEL|WF|WORKFLOW|STEP|OUT|REASON|LOCALE)\.[A-Za-z_]`)
	for name, src := range map[string]string{
		"start": startLua, "rollback": rollbackLua, "check": checkLua, "cancel": cancelLua, "view": viewLua,
		"claim": attemptLua + claimLua, "release": attemptLua + releaseLua, "report": attemptLua + reportLua, "step": stepLua,
	} {
		out := compile(commonLua + "\n" + src)
		// Comments keep their words; code must not.
		for i, line := range strings.Split(out, "\n") {
			code, _, _ := strings.Cut(line, "--")
			if m := left.FindString(code); m != "" {
				t.Errorf("%s, line %d: %q was not compiled: %s", name, i+1, m, line)
			}
		}
		for _, table := range []string{"CH", "RANK", "WORKFLOW", "DELIVERY", "DS", "STATUS"} {
			if regexp.MustCompile(`\b`+table+`\[`).MatchString(src) && !strings.Contains(out, "local "+table+" = {") {
				t.Errorf("%s indexes %s by a variable without the table", name, table)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a name the schema lacks compiled")
		}
	}()
	compile("return F.nosuchfield")
}
