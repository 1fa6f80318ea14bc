package redisstore

import (
	"context"
	_ "embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/common.lua
	commonLua string
	//go:embed lua/start.lua
	startLua string
	//go:embed lua/rollback.lua
	rollbackLua string
	//go:embed lua/check.lua
	checkLua string
	//go:embed lua/checklimits.lua
	checkLimitsLua string
	//go:embed lua/cancel.lua
	cancelLua string
	//go:embed lua/view.lua
	viewLua string
	//go:embed lua/attempt.lua
	attemptLua string
	//go:embed lua/claim.lua
	claimLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/report.lua
	reportLua string
	//go:embed lua/step.lua
	stepLua string
	//go:embed lua/idemclaim.lua
	idemClaimLua string
	//go:embed lua/keep.lua
	keepLua string
	//go:embed lua/forget.lua
	forgetLua string
	//go:embed lua/window.lua
	windowLua string
	//go:embed lua/take.lua
	takeLua string
	//go:embed lua/refund.lua
	refundLua string
	//go:embed lua/guardlib.lua
	guardlibLua string
	//go:embed lua/guard.lua
	guardLua string
	//go:embed lua/adjust.lua
	adjustLua string
	//go:embed lua/lift.lua
	liftLua string
	//go:embed lua/ended.lua
	endedLua string

	startScript    = script(startLua)
	rollbackScript = script(rollbackLua)
	checkScript    = script(checkLua)
	// A check and its limits in one: check.lua made a function, behind
	// window.lua's helpers (its clock, the one check() then sees, reads
	// time as common.lua's does).
	checkLimitsScript = script(windowLua, "local function check()\n"+checkLua+"\nend", checkLimitsLua)
	cancelScript      = script(cancelLua)
	viewScript        = script(viewLua)
	claimScript       = script(attemptLua, claimLua)
	releaseScript     = script(attemptLua, releaseLua)
	reportScript      = script(attemptLua, reportLua)
	stepScript        = script(stepLua)
	// The limits' scripts, and the Idempotency-Key ones (their cap on
	// kept answers is such a limit), need none of the verification schema
	// but window.lua's helpers.
	idemClaimScript = redis.NewScript(windowLua + "\n" + idemClaimLua)
	keepScript      = redis.NewScript(windowLua + "\n" + keepLua)
	forgetScript    = redis.NewScript(windowLua + "\n" + forgetLua)
	takeScript      = redis.NewScript(windowLua + "\n" + takeLua)
	refundScript    = redis.NewScript(windowLua + "\n" + refundLua)
	// The fraud guard's share guardlib.lua, and name the schema too.
	guardScript  = guardPart(guardLua)
	adjustScript = guardPart(adjustLua)
	liftScript   = guardPart(liftLua)
	endedScript  = guardPart(endedLua)
)

func guardPart(src string) *redis.Script {
	return redis.NewScript(compile(guardlibLua + "\n" + src))
}

// script puts the shared helpers (common.lua, and any others given first)
// in front of a verification script's own text, the last, and compiles the
// schema's names into all of it.
func script(parts ...string) *redis.Script {
	return redis.NewScript(compile(commonLua + "\n" + strings.Join(parts, "\n")))
}

// queue adds script to a pipeline, so that it shares a round trip with
// other commands, and returns the function that reads its answer once the
// pipeline ran (with the client instead of a pipeline, it runs at once). A
// script the server does not have cached (a restart, a
// failover) did not run, so it is then run at once: its first run.
func queue(ctx context.Context, rdb, pipe redis.Scripter, sc *redis.Script, keys []string, args []any) func() ([]any, error) {
	cmd := sc.EvalSha(ctx, pipe, keys, args...)
	return func() ([]any, error) {
		res, err := cmd.Slice()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			res, err = sc.Run(ctx, rdb, keys, args...).Slice()
		}
		return res, err
	}
}

// ScriptNames names this package's scripts by their SHA1 (the EVALSHA
// argument), for tools that read SLOWLOG or MONITOR to say where Redis's
// time goes (the load test's per-script table).
func ScriptNames() map[string]string {
	named := map[string]*redis.Script{
		"start": startScript, "rollback": rollbackScript, "check": checkScript,
		"checklimits": checkLimitsScript, "cancel": cancelScript, "view": viewScript,
		"claim": claimScript, "release": releaseScript, "report": reportScript,
		"step": stepScript, "idemclaim": idemClaimScript, "keep": keepScript,
		"forget": forgetScript, "take": takeScript, "refund": refundScript,
		"guard": guardScript, "adjust": adjustScript, "lift": liftScript, "ended": endedScript,
	}
	names := make(map[string]string, len(named))
	for n, sc := range named {
		names[sc.Hash()] = n
	}
	return names
}
