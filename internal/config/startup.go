package config

import (
	"io"
	"log/slog"
)

// FromEnv is every process's start: the environment (over ./.env) read
// once and validated.
func FromEnv(getenv func(string) string) (Config, func(string) string, error) {
	return fromEnv(getenv, "")
}

func fromEnv(getenv func(string) string, process string) (Config, func(string) string, error) {
	getenv, err := WithDotEnv(getenv, ".env")
	if err != nil {
		return Config{}, nil, err
	}
	cfg, err := LoadFor(getenv, process)
	return cfg, getenv, err
}

// Startup reads the configuration and returns it with the process logger,
// having logged the configuration (secrets masked) and its warnings.
// process ("api" or "worker") adds that process's own rules (LoadFor).
func Startup(getenv func(string) string, stdout io.Writer, process string) (Config, *slog.Logger, error) {
	cfg, _, err := fromEnv(getenv, process)
	if err != nil {
		return Config{}, nil, err
	}
	log := NewLogger(cfg, stdout).With("process", process)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	log.Info("starting", "config", cfg)
	return cfg, log, nil
}
