// Package clustertest runs the real api and worker binaries against Redis
// topologies other than one server: a 3-master Redis Cluster and a
// Sentinel-managed master with a replica, including a failover.
//
// The tests start their own redis-server processes on 127.0.0.1 and are
// skipped unless OTPD_TOPOLOGY_TESTS=1 (make test-redis-topologies sets it),
// with -short, or when redis-server (or, for the cluster, redis-cli) is
// missing.
package topology
