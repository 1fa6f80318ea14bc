# The two commands a newcomer needs: `make run` and `make test`.
GO      ?= go
BIN     := bin
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test build vet fuzz bench bench-go up down clean generate

build: ## build api, worker and the dev launcher into bin/
	$(GO) build -o $(BIN)/ ./cmd/api ./cmd/worker ./cmd/devrun

run: build ## api + worker against REDIS_URL, localhost:6379, or an embedded Redis
	./$(BIN)/devrun

test: vet ## every test, with the race detector (needs redis-server on PATH)
	$(GO) test -race -count=1 ./...

.PHONY: test-redis-topologies
test-redis-topologies: ## api + worker on a 3-master Redis Cluster and through a Sentinel failover (needs redis-server, redis-cli)
	OTPD_TOPOLOGY_TESTS=1 $(GO) test -race -count=1 -v ./internal/suites/topology/

vet:
	$(GO) vet ./...

generate: ## regenerate the Go client's HTTP layer from api/openapi.yaml (oapi-codegen; a test fails while it is stale)
	cd client/internal/oapi && $(GO) generate ./...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzParsePhone$$' -fuzztime $(or $(FUZZTIME),30s) ./otp
	$(GO) test -run '^$$' -fuzz '^FuzzPackSID$$' -fuzztime $(or $(FUZZTIME),30s) ./otp
	$(GO) test -run '^$$' -fuzz '^FuzzUnpackView$$' -fuzztime $(or $(FUZZTIME),30s) ./otp
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(or $(FUZZTIME),30s) ./cmd/api
	$(GO) test -run '^$$' -fuzz '^FuzzParseIdempotencyKey$$' -fuzztime $(or $(FUZZTIME),30s) ./cmd/api

bench: build ## load test: real api + worker, throw-away Redis, fake Twilio (150 ms); writes bench-result.json
	$(GO) run ./internal/tools/loadtest -bin $(BIN) $(BENCHFLAGS)

bench-go: ## Go micro-benchmarks of the hot paths (allocations included)
	$(GO) test -run '^$$' -bench . -benchmem ./otp ./tasks ./cmd/api

up: ## docker compose: redis + api + worker (needs a Docker engine)
	docker compose up --build -d

down:
	docker compose down

clean:
	rm -rf $(BIN)
