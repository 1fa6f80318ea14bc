package config

import (
	"log/slog"
	"strings"
)

// App is what every process shares: its environment and its logs.
type App struct {
	// Env is APP_ENV: development, production or test.
	Env       string
	LogLevel  slog.Level
	LogFormat string // json or text
}

// Production reports whether APP_ENV is production.
func (a App) Production() bool { return a.Env == "production" }

func (e *env) app() App {
	a := App{Env: e.str("APP_ENV", "development"), LogFormat: strings.ToLower(e.str("LOG_FORMAT", "json"))}
	switch a.Env {
	case "development", "production", "test":
	default:
		e.bad("APP_ENV", "%q is not development, production or test", a.Env)
	}
	if err := a.LogLevel.UnmarshalText([]byte(e.str("LOG_LEVEL", "info"))); err != nil {
		e.bad("LOG_LEVEL", "%q is not debug, info, warn or error", e.get("LOG_LEVEL"))
	}
	if a.LogFormat != "json" && a.LogFormat != "text" {
		e.bad("LOG_FORMAT", "%q is not json or text", a.LogFormat)
	}
	return a
}

func (a App) attrs() []slog.Attr { return []slog.Attr{slog.String("app_env", a.Env)} }
