# The two commands a newcomer needs: `make run` and `make test`.
GO      ?= go
BIN     := bin
TOOL    := $(GO) tool -modfile=internal/tools/external/go.mod
export PATH := $(PATH):/usr/local/go/bin

.PHONY: channel-sim run test test-redis-topologies lint build fuzz bench bench-go fraud-sim chaos up down clean generate

# A first build compiles every dependency: minutes of silence otherwise.
# No bin/ is the sign of a fresh checkout.
build: ## build api, worker and the dev launcher into bin/
	@test -d $(BIN) || echo 'make: first build: compiling otpd and all its dependencies takes minutes (about 5 on 2 idle cores, more on busy ones); later builds take seconds'
	$(GO) build -o $(BIN)/ ./cmd/api ./cmd/worker ./cmd/devrun

run: build ## api + worker + demo page (development only), against REDIS_URL, else a throw-away redis-server, else an embedded Redis
	./$(BIN)/devrun

test: ## every test, with the race detector (needs redis-server on PATH)
	@test -d $(BIN) || echo 'make: the first test run compiles every package with the race detector: about 6 minutes on 2 cores; later runs reuse the build cache'
	$(GO) test -race -count=1 -parallel 4 ./...

test-redis-topologies: ## api + worker on a 3-master Redis Cluster and through a Sentinel failover (needs redis-server, redis-cli)
	OTPD_TOPOLOGY_TESTS=1 $(GO) test -race -count=1 -v ./internal/suites/topology/

lint: ## gofmt, go vet, staticcheck (pinned in internal/tools/external) and no product function over 80 lines
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: the files above are not formatted'; exit 1; }
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(GO) run ./internal/tools/funclen -max 80 .

generate: ## regenerate the Go client's HTTP layer from api/openapi.yaml (oapi-codegen; a test fails while it is stale)
	cd client/internal/oapi && $(GO) generate ./...

# Every fuzz target, as package:Target.
FUZZ_TARGETS := ./otp:FuzzParsePhone ./otp/redisstore:FuzzPackSID ./otp/redisstore:FuzzUnpackView \
	./otp:FuzzParseAttemptRef ./telegram:FuzzParseReport ./tasks:FuzzParseDeliveryPayload ./cmd/api:FuzzDecodeRequest ./cmd/api:FuzzParseIdempotencyKey \
	./cmd/api:FuzzWebhookBody ./otp:FuzzParseBlockName ./tasks:FuzzParseBlockEndPayload

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(or $(FUZZTIME),30s) "$${t%%:*}" || exit 1; \
	done

# The ceiling server (Gin + one EVALSHA) is the bench's denominator: built
# here, not in `build`, so `make build` and `make run` do not pay for it.
bench: build ## load test: real api + worker and the ceiling server, throw-away Redis, fake Twilio (150 ms); writes bench-result.json
	$(GO) build -o $(BIN)/ ./internal/tools/ceiling
	$(GO) run ./internal/tools/loadtest -bin $(BIN) $(BENCHFLAGS)

channel-sim: ## [telegram, sms] against [sms] on the real binaries and fake gateways: share per channel, spend per verified user, time to verified (USERS, default 500)
	OTPD_CHANNEL_SIM_USERS=$(or $(USERS),500) $(GO) test -count=1 -run TestCheapFirstSimulation -v ./internal/suites/e2e

fraud-sim: build ## SMS-pumping attack on the real api + worker in accelerated time (-speed 60): fraud guard PASS/FAIL; writes bin/fraud-sim-result.json
	$(GO) run ./internal/tools/fraudsim -bin $(BIN) $(SIMFLAGS)

chaos: build ## faults under steady signups (worker, api, Redis kills, Twilio 503s, Sentinel failover), each in a fresh stack: lost sends per fault, PASS/FAIL; writes bin/chaos-result.json. CI: make chaos CHAOSFLAGS=-short
	$(GO) run ./internal/tools/chaos -bin $(BIN) $(CHAOSFLAGS)

bench-go: ## Go micro-benchmarks of the hot paths (allocations included)
	$(GO) test -run '^$$' -bench . -benchmem ./otp/... ./tasks ./twilio ./cmd/api

# Compose v2 (docker compose) when present, else v1 (docker-compose, as
# Debian ships it): docker-compose.yml works with both.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)

up: .env ## docker compose: redis + api + worker (needs a Docker engine; Compose v1 or v2)
	$(COMPOSE) up --build -d

down:
	$(COMPOSE) down

# The compose file reads .env, and Compose before 2.24 cannot make that
# optional: start from the example, whose every line is a comment.
.env:
	cp -n .env.example .env
	@echo 'make: created .env from .env.example; edit it to configure (README "Configure with .env")'

clean:
	rm -rf $(BIN)
