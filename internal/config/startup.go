package config

import (
	"io"
	"log/slog"
)

// FromEnv is every process's start: the environment (over ./.env) read
// once and validated.
func FromEnv(getenv func(string) string) (Config, func(string) string, error) {
	getenv, err := WithDotEnv(getenv, ".env")
	if err != nil {
		return Config{}, nil, err
	}
	cfg, err := Load(getenv)
	return cfg, getenv, err
}

// Startup reads the configuration and returns it with the process logger,
// having logged the configuration (secrets masked) and its warnings.
func Startup(getenv func(string) string, stdout io.Writer, process string) (Config, *slog.Logger, error) {
	cfg, _, err := FromEnv(getenv)
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
