// Package deploy_test checks the Kubernetes manifests under deploy/ and the
// root docker-compose.yml by parsing them: no cluster and no Docker engine are
// needed. It holds the rules a reviewer would otherwise check by eye: probes on
// the ports the processes listen on, the shutdown timeouts nested inside the
// grace periods, non-root hardened containers, selectors that select, and no
// real credential in the Secret template.
//
// When kubectl is on PATH, TestKustomizeBuild also renders base and every
// overlay with `kubectl kustomize` (offline) and runs the same checks on the
// result; otherwise it is skipped.
package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/otpd/otpd/internal/config"
	"github.com/otpd/otpd/internal/testkit/proctest"
)

// Defaults of the processes (docs/operations.md "Configuration", internal/config).
const (
	defaultHTTPAddr        = ":8080"
	defaultMetricsAddr     = config.DefaultWorkerMetricsAddr
	defaultShutdownTimeout = 20 * time.Second
	defaultTwilioTimeout   = 10 * time.Second
	apiDrainTimeout        = 15 * time.Second // drainTimeout in cmd/api/run.go
	defaultGrace           = 30 * time.Second // Kubernetes' terminationGracePeriodSeconds
	apiCommand             = "/usr/local/bin/api"
	workerCommand          = "/usr/local/bin/worker"
	secretTemplateFile     = "base/secret.example.yaml"
	composeFile            = "../docker-compose.yml"
)

// ---------------------------------------------------------------- loading

type doc struct {
	file string // relative to deploy/
	idx  int    // document index in the file
	obj  map[string]any
}

func (d doc) String() string { return fmt.Sprintf("%s#%d (%s %s)", d.file, d.idx, d.kind(), d.name()) }
func (d doc) kind() string   { return str(d.obj["kind"]) }
func (d doc) name() string   { return str(get(d.obj, "metadata", "name")) }

// splitDocs cuts a YAML stream where kubectl does (k8s.io/apimachinery's
// YAMLReader): at lines that are "---" plus optional trailing blanks.
// goccy/go-yaml's Decoder alone stops at the first empty document and would
// silently drop every document after it.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(line[3:]) == "" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

// parseYAML returns the non-empty documents of a YAML stream, each a mapping.
func parseYAML(name string, b []byte) ([]map[string]any, error) {
	var out []map[string]any
	for i, chunk := range splitDocs(b) {
		dec := yaml.NewDecoder(bytes.NewReader(chunk))
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				continue // empty or comments only
			}
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		var extra any
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: document %d: a \"---\" separator must stand alone on its line (%v)", name, i, err)
		}
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: document %d is a %T, not a mapping", name, i, v)
		}
		out = append(out, m)
	}
	return out, nil
}

// TestParseYAMLKeepsEveryDocument: an empty or comment-only document must
// not hide the documents after it, as it would with goccy/go-yaml's Decoder
// alone (kubectl applies them).
func TestParseYAMLKeepsEveryDocument(t *testing.T) {
	src := "---\nkind: A\n---\n# only a comment\n---\n---\nkind: B\n---   \nkind: C\n"
	ms, err := parseYAML("inline", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range ms {
		kinds = append(kinds, str(m["kind"]))
	}
	if !slices.Equal(kinds, []string{"A", "B", "C"}) {
		t.Fatalf("kinds %v, want [A B C]", kinds)
	}
	if _, err := parseYAML("dup", []byte("kind: A\nkind: B\n")); err == nil {
		t.Error("a duplicate key must be an error")
	}
}

// loadDeploy parses every Kubernetes YAML file under deploy/ (the
// Prometheus rules and Grafana dashboard are not resources;
// observability_test.go checks them).
func loadDeploy(t *testing.T) []doc {
	t.Helper()
	var docs []doc
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (path == "prometheus" || path == "grafana") {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !isYAML(path) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ms, err := parseYAML(path, b)
		if err != nil {
			return err
		}
		for i, m := range ms {
			docs = append(docs, doc{file: filepath.ToSlash(path), idx: i, obj: m})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no YAML documents under deploy/")
	}
	return docs
}

func isYAML(p string) bool { return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") }

// baseObjects returns the objects `kubectl apply -k deploy/base` applies,
// without kustomize's transformations (the base needs none to be correct).
func baseObjects(t *testing.T, docs []doc) []doc {
	t.Helper()
	k := kustomization(t, docs, "base/kustomization.yaml")
	var out []doc
	for _, r := range strs(k.obj["resources"]) {
		p := filepath.ToSlash(filepath.Join("base", r))
		n := 0
		for _, d := range docs {
			if d.file == p {
				out = append(out, d)
				n++
			}
		}
		if n == 0 {
			t.Errorf("base/kustomization.yaml: resource %s holds no object", r)
		}
	}
	return out
}

func kustomization(t *testing.T, docs []doc, file string) doc {
	t.Helper()
	for _, d := range docs {
		if d.file == file {
			return d
		}
	}
	t.Fatalf("%s not found", file)
	return doc{}
}

// ---------------------------------------------------------------- generic access

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// num returns an integer field, whatever integer type the decoder chose.
func num(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}

// as converts a decoded document into a typed view through JSON.
func as[T any](t *testing.T, d doc) T {
	t.Helper()
	var v T
	b, err := json.Marshal(d.obj)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	return v
}

// ---------------------------------------------------------------- typed views

type meta struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type selector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []any             `json:"matchExpressions"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"` // number or port name
	} `json:"httpGet"`
}

type secCtx struct {
	RunAsNonRoot             *bool  `json:"runAsNonRoot"`
	RunAsUser                *int64 `json:"runAsUser"`
	AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem"`
	Privileged               *bool  `json:"privileged"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
		Add  []string `json:"add"`
	} `json:"capabilities"`
}

type container struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command"`
	Ports   []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Env []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom any    `json:"valueFrom"`
	} `json:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `json:"configMapRef"`
		SecretRef    *struct{ Name string } `json:"secretRef"`
	} `json:"envFrom"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int64 `json:"seconds"`
			} `json:"sleep"`
		} `json:"preStop"`
	} `json:"lifecycle"`
	Resources struct {
		Requests map[string]any `json:"requests"`
		Limits   map[string]any `json:"limits"`
	} `json:"resources"`
	SecurityContext *secCtx `json:"securityContext"`
}

type deployment struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Replicas *int64   `json:"replicas"`
		Selector selector `json:"selector"`
		Template struct {
			Metadata meta `json:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds *int64      `json:"terminationGracePeriodSeconds"`
				SecurityContext               *secCtx     `json:"securityContext"`
				HostNetwork                   bool        `json:"hostNetwork"`
				HostPID                       bool        `json:"hostPID"`
				Containers                    []container `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func (d deployment) grace() time.Duration {
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return defaultGrace
}

type service struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Type     string            `json:"type"`
		Selector map[string]string `json:"selector"`
		Ports    []struct {
			Port       int `json:"port"`
			TargetPort any `json:"targetPort"`
		} `json:"ports"`
	} `json:"spec"`
}

type hpa struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicas *int64 `json:"minReplicas"`
		MaxReplicas int64  `json:"maxReplicas"`
		Metrics     []struct {
			Type     string `json:"type"`
			Resource *struct {
				Name string `json:"name"`
			} `json:"resource"`
		} `json:"metrics"`
	} `json:"spec"`
}

type pdb struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		MinAvailable   any      `json:"minAvailable"`
		MaxUnavailable any      `json:"maxUnavailable"`
		Selector       selector `json:"selector"`
	} `json:"spec"`
}

// ---------------------------------------------------------------- the checks

// TestEveryDocumentIsAResource: every document under deploy/ is a Kubernetes
// object (or a Kustomization) with apiVersion, kind and metadata.name.
func TestEveryDocumentIsAResource(t *testing.T) {
	for _, d := range loadDeploy(t) {
		if str(d.obj["apiVersion"]) == "" || d.kind() == "" {
			t.Errorf("%s: apiVersion and kind are required", d)
			continue
		}
		if d.kind() == "Kustomization" {
			continue // a kustomization has no metadata.name
		}
		if d.name() == "" {
			t.Errorf("%s: metadata.name is required", d)
		}
	}
}

// TestKustomizations: everything a kustomization.yaml names exists, and every
// manifest beside it is used, except the *.example.yaml templates.
func TestKustomizations(t *testing.T) {
	docs := loadDeploy(t)
	n := 0
	used := map[string]bool{}
	for _, k := range docs {
		if k.kind() != "Kustomization" {
			continue
		}
		n++
		dir := filepath.Dir(k.file)
		var refs []string
		refs = append(refs, strs(k.obj["resources"])...)
		refs = append(refs, strs(k.obj["components"])...)
		for _, p := range asList(k.obj["patches"]) {
			if path := str(get(p, "path")); path != "" {
				refs = append(refs, path)
			}
		}
		refs = append(refs, strs(k.obj["patchesStrategicMerge"])...)
		if len(strs(k.obj["resources"])) == 0 {
			t.Errorf("%s: no resources", k.file)
		}
		for _, r := range refs {
			if strings.Contains(r, "://") {
				t.Errorf("%s: remote resource %q cannot be checked offline", k.file, r)
				continue
			}
			p := filepath.Join(dir, r)
			fi, err := os.Stat(p)
			switch {
			case err != nil:
				t.Errorf("%s: %s: %v", k.file, r, err)
			case fi.IsDir():
				if _, err := os.Stat(filepath.Join(p, "kustomization.yaml")); err != nil {
					t.Errorf("%s: directory %s has no kustomization.yaml", k.file, r)
				}
			default:
				used[filepath.ToSlash(p)] = true
			}
		}
		if k.file == "base/kustomization.yaml" {
			for _, r := range strs(k.obj["resources"]) {
				if r == filepath.Base(secretTemplateFile) {
					t.Errorf("%s lists the Secret template: every apply would overwrite the real Secret with placeholders", k.file)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no kustomization.yaml under deploy/")
	}
	for _, d := range docs {
		dir := filepath.Dir(d.file)
		if d.kind() == "Kustomization" || strings.HasSuffix(d.file, ".example.yaml") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err == nil && !used[d.file] {
			t.Errorf("%s is not referenced by %s/kustomization.yaml", d.file, dir)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestBase runs the invariants on the objects of deploy/base, and checks what
// is specific to the base (image, replicas).
func TestBase(t *testing.T) {
	docs := loadDeploy(t)
	objs := baseObjects(t, docs)
	checkSet(t, objs)

	api, _ := findDeployment(t, objs, apiCommand)
	if api.Spec.Replicas == nil || *api.Spec.Replicas != 2 {
		t.Errorf("api: want 2 replicas in the base")
	}
	for _, d := range objs {
		if d.kind() != "Deployment" {
			continue
		}
		for _, c := range as[deployment](t, d).Spec.Template.Spec.Containers {
			if c.Image != "otpd:latest" {
				t.Errorf("%s: container %s: image %q, want otpd:latest (overlays pin it)", d, c.Name, c.Image)
			}
		}
	}
	// The Secret the pods read is the template's name.
	tmpl := secretTemplate(t, docs)
	for _, d := range objs {
		if d.kind() != "Deployment" {
			continue
		}
		for _, c := range as[deployment](t, d).Spec.Template.Spec.Containers {
			found := false
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name == tmpl.name() {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: container %s: no envFrom secretRef %s", d, c.Name, tmpl.name())
			}
		}
	}
}

// checkSet holds the rules every rendering (base or overlay) must keep.
func checkSet(t *testing.T, objs []doc) {
	t.Helper()
	configMaps := map[string]map[string]any{}
	for _, d := range objs {
		if d.kind() == "ConfigMap" {
			data, _ := get(d.obj, "data").(map[string]any)
			configMaps[d.name()] = data
			checkConfigMap(t, d, data)
		}
	}

	api, apiDoc := findDeployment(t, objs, apiCommand)
	worker, workerDoc := findDeployment(t, objs, workerCommand)
	if apiDoc.obj == nil || workerDoc.obj == nil {
		return
	}
	deployments := map[string]deployment{}
	for _, d := range objs {
		if d.kind() == "Deployment" {
			dep := as[deployment](t, d)
			deployments[d.name()] = dep
			checkPodSecurity(t, d, dep)
			checkSelector(t, d, dep)
		}
	}

	// api: probes and scraping on the port HTTP_ADDR names.
	ac := api.Spec.Template.Spec.Containers[0]
	apiEnv := effectiveEnv(t, apiDoc, ac, configMaps)
	apiPort := portOf(t, apiDoc, "HTTP_ADDR", apiEnv, defaultHTTPAddr)
	checkProbes(t, apiDoc, ac, apiPort)
	// api: /metrics and /monitoring/ on API_ADMIN_ADDR (production refuses
	// to start without it), a port of its own, scraped there.
	if apiEnv["API_ADMIN_ADDR"] == "" {
		t.Errorf("%s: set API_ADMIN_ADDR: the api refuses to start in production without it", apiDoc)
	} else if adminPort := portOf(t, apiDoc, "API_ADMIN_ADDR", apiEnv, ""); adminPort == apiPort {
		t.Errorf("%s: API_ADMIN_ADDR must be another port than HTTP_ADDR's %d", apiDoc, apiPort)
	} else {
		checkDeclared(t, apiDoc, ac, adminPort)
		checkScrape(t, apiDoc, api, adminPort)
	}
	// api: preStop + drain fit in the grace period.
	var preStop time.Duration
	if l := ac.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	if preStop+apiDrainTimeout >= api.grace() {
		t.Errorf("%s: preStop %v + drain %v must stay below terminationGracePeriodSeconds %v", apiDoc, preStop, apiDrainTimeout, api.grace())
	}

	// worker: probes on WORKER_METRICS_ADDR, and the timeout chain.
	wc := worker.Spec.Template.Spec.Containers[0]
	wEnv := effectiveEnv(t, workerDoc, wc, configMaps)
	wPort := portOf(t, workerDoc, "WORKER_METRICS_ADDR", wEnv, defaultMetricsAddr)
	// Unset, it is loopback: the kubelet's probes and Prometheus come from
	// outside the pod.
	if loopbackAddr(wEnv["WORKER_METRICS_ADDR"], defaultMetricsAddr) {
		t.Errorf("%s: WORKER_METRICS_ADDR=%q is loopback (its default): set it, e.g. :9090, for the probes and the scrape", workerDoc, wEnv["WORKER_METRICS_ADDR"])
	}
	checkProbes(t, workerDoc, wc, wPort)
	checkScrape(t, workerDoc, worker, wPort)
	shutdown := duration(t, workerDoc, "WORKER_SHUTDOWN_TIMEOUT", wEnv, defaultShutdownTimeout)
	twilio := duration(t, workerDoc, "TWILIO_TIMEOUT", wEnv, defaultTwilioTimeout)
	if !(twilio < shutdown && shutdown < worker.grace()) {
		t.Errorf("%s: want TWILIO_TIMEOUT (%v) < WORKER_SHUTDOWN_TIMEOUT (%v) < terminationGracePeriodSeconds (%v)",
			workerDoc, twilio, shutdown, worker.grace())
	}
	if worker.Spec.Template.Spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("%s: set terminationGracePeriodSeconds explicitly, next to its comment", workerDoc)
	}

	// Service -> api pods, on the api's port.
	nSvc := 0
	for _, d := range objs {
		if d.kind() != "Service" {
			continue
		}
		nSvc++
		s := as[service](t, d)
		if s.Spec.Type != "" && s.Spec.Type != "ClusterIP" {
			t.Errorf("%s: type %s, want ClusterIP (expose it with an Ingress or Gateway)", d, s.Spec.Type)
		}
		if !subset(s.Spec.Selector, api.Spec.Template.Metadata.Labels) || subset(s.Spec.Selector, worker.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: selector %v must select the api pods and only them", d, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			if p.Port != 80 || resolvePort(ac, p.TargetPort) != apiPort {
				t.Errorf("%s: port %d -> %v, want 80 -> %d", d, p.Port, p.TargetPort, apiPort)
			}
		}
	}
	if nSvc != 1 {
		t.Errorf("want exactly one Service (the api's), got %d", nSvc)
	}

	// HPA -> worker Deployment.
	var scaledWorker *hpa
	for _, d := range objs {
		if d.kind() != "HorizontalPodAutoscaler" {
			continue
		}
		h := as[hpa](t, d)
		if str(d.obj["apiVersion"]) != "autoscaling/v2" {
			t.Errorf("%s: want autoscaling/v2", d)
		}
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
			t.Errorf("%s: scaleTargetRef %s %s, want apps/v1 Deployment", d, ref.APIVersion, ref.Kind)
		}
		if _, ok := deployments[ref.Name]; !ok {
			t.Errorf("%s: scaleTargetRef %q names no Deployment", d, ref.Name)
		}
		if ref.Name == workerDoc.name() {
			scaledWorker = &h
		}
		min := int64(1)
		if h.Spec.MinReplicas != nil {
			min = *h.Spec.MinReplicas
		}
		if min < 2 || h.Spec.MaxReplicas < min {
			t.Errorf("%s: replicas %d..%d: want at least 2, max >= min", d, min, h.Spec.MaxReplicas)
		}
		for _, m := range h.Spec.Metrics {
			if m.Type == "Resource" && m.Resource != nil {
				for _, c := range deployments[ref.Name].Spec.Template.Spec.Containers {
					if c.Resources.Requests[m.Resource.Name] == nil {
						t.Errorf("%s: scales on %s but container %s requests none", d, m.Resource.Name, c.Name)
					}
				}
			}
		}
	}
	if scaledWorker == nil {
		t.Errorf("no HorizontalPodAutoscaler targets the worker Deployment %s", workerDoc.name())
	} else if worker.Spec.Replicas != nil {
		t.Errorf("%s: sets replicas although an HPA owns the count: every apply would reset it", workerDoc)
	}

	// PDBs select existing pods, leave room for a drain, and cover api and worker.
	covered := map[string]bool{}
	for _, d := range objs {
		if d.kind() != "PodDisruptionBudget" {
			continue
		}
		p := as[pdb](t, d)
		if len(p.Spec.Selector.MatchLabels) == 0 || len(p.Spec.Selector.MatchExpressions) > 0 {
			t.Errorf("%s: want a matchLabels selector", d)
			continue
		}
		min, ok := num(p.Spec.MinAvailable)
		if !ok || min != 1 {
			t.Errorf("%s: minAvailable %v, want 1", d, p.Spec.MinAvailable)
		}
		n := 0
		for name, dep := range deployments {
			if !subset(p.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels) {
				continue
			}
			n++
			covered[name] = true
			replicas := int64(1)
			if dep.Spec.Replicas != nil {
				replicas = *dep.Spec.Replicas
			}
			if name == workerDoc.name() && scaledWorker != nil && scaledWorker.Spec.MinReplicas != nil {
				replicas = *scaledWorker.Spec.MinReplicas
			}
			if replicas <= min {
				t.Errorf("%s: minAvailable %d with %d replicas of %s blocks every node drain", d, min, replicas, name)
			}
		}
		if n == 0 {
			t.Errorf("%s: selector %v selects no pods", d, p.Spec.Selector.MatchLabels)
		}
	}
	for _, name := range []string{apiDoc.name(), workerDoc.name()} {
		if !covered[name] {
			t.Errorf("no PodDisruptionBudget covers %s", name)
		}
	}
}

func findDeployment(t *testing.T, objs []doc, command string) (deployment, doc) {
	t.Helper()
	var found []doc
	for _, d := range objs {
		if d.kind() != "Deployment" {
			continue
		}
		for _, c := range as[deployment](t, d).Spec.Template.Spec.Containers {
			if slices.Equal(c.Command, []string{command}) {
				found = append(found, d)
			}
		}
	}
	if len(found) != 1 {
		t.Errorf("want one Deployment running %s, got %d", command, len(found))
		return deployment{}, doc{}
	}
	dep := as[deployment](t, found[0])
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Errorf("%s: want one container", found[0])
	}
	return dep, found[0]
}

func checkConfigMap(t *testing.T, d doc, data map[string]any) {
	t.Helper()
	for k, v := range data {
		if _, ok := v.(string); !ok {
			t.Errorf("%s: %s is a %T; ConfigMap values must be strings (quote it)", d, k, v)
		}
	}
	for _, k := range []string{"OTP_TTL", "OTP_RESEND_COOLDOWN", "OTP_RETENTION", "TWILIO_TIMEOUT", "WORKER_SHUTDOWN_TIMEOUT"} {
		if s, ok := data[k].(string); ok {
			if _, err := time.ParseDuration(s); err != nil {
				t.Errorf("%s: %s: %v", d, k, err)
			}
		}
	}
	for _, k := range []string{"OTP_SECRET", "API_KEYS", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"} {
		if _, ok := data[k]; ok {
			t.Errorf("%s: %s is a credential; it belongs in the Secret", d, k)
		}
	}
	if d.file == "base/configmap.yaml" && data["APP_ENV"] != "production" {
		t.Errorf("%s: APP_ENV must be production", d)
	}
}

// effectiveEnv is what the container sees: env entries win over envFrom.
func effectiveEnv(t *testing.T, d doc, c container, configMaps map[string]map[string]any) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		data, ok := configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("%s: envFrom ConfigMap %q is not in the set", d, ef.ConfigMapRef.Name)
		}
		for k, v := range data {
			env[k] = fmt.Sprint(v)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func portOf(t *testing.T, d doc, key string, env map[string]string, def string) int {
	t.Helper()
	addr := env[key]
	if addr == "" {
		addr = def
	}
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Errorf("%s: %s=%q is not host:port", d, key, addr)
	}
	return n
}

func duration(t *testing.T, d doc, key string, env map[string]string, def time.Duration) time.Duration {
	t.Helper()
	s, ok := env[key]
	if !ok || s == "" {
		return def
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Errorf("%s: %s=%q: %v", d, key, s, err)
	}
	return v
}

// resolvePort turns a probe or Service port (number or name) into a number.
func resolvePort(c container, p any) int {
	if n, ok := num(p); ok {
		return int(n)
	}
	if s, ok := p.(string); ok {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
		for _, cp := range c.Ports {
			if cp.Name == s {
				return cp.ContainerPort
			}
		}
	}
	return -1
}

func checkProbes(t *testing.T, d doc, c container, port int) {
	t.Helper()
	for _, pr := range []struct {
		kind string
		p    *probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: %s: want an httpGet probe on %s", d, pr.kind, pr.path)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path || resolvePort(c, pr.p.HTTPGet.Port) != port {
			t.Errorf("%s: %s: GET %s on %v, want %s on %d", d, pr.kind, pr.p.HTTPGet.Path, pr.p.HTTPGet.Port, pr.path, port)
		}
	}
	checkDeclared(t, d, c, port)
}

func checkDeclared(t *testing.T, d doc, c container, port int) {
	t.Helper()
	exposed := false
	for _, cp := range c.Ports {
		exposed = exposed || cp.ContainerPort == port
	}
	if !exposed {
		t.Errorf("%s: containerPort %d is not declared", d, port)
	}
}

// loopbackAddr reports whether addr (def when empty) listens on loopback
// only.
func loopbackAddr(addr, def string) bool {
	if addr == "" {
		addr = def
	}
	host, _, err := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

func checkScrape(t *testing.T, d doc, dep deployment, port int) {
	t.Helper()
	a := dep.Spec.Template.Metadata.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(port) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: want pod annotations prometheus.io/scrape=true, port=%d, path=/metrics; got %v", d, port, a)
	}
}

func checkSelector(t *testing.T, d doc, dep deployment) {
	t.Helper()
	if len(dep.Spec.Selector.MatchLabels) == 0 || !subset(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: selector %v does not match its pod labels %v", d, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels)
	}
}

func checkPodSecurity(t *testing.T, d doc, dep deployment) {
	t.Helper()
	ps := dep.Spec.Template.Spec
	if ps.HostNetwork || ps.HostPID {
		t.Errorf("%s: hostNetwork/hostPID", d)
	}
	pod := ps.SecurityContext
	if pod == nil {
		pod = &secCtx{}
	}
	for _, c := range ps.Containers {
		sc := c.SecurityContext
		if sc == nil {
			sc = &secCtx{}
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = pod.RunAsNonRoot
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = pod.RunAsUser
		}
		where := fmt.Sprintf("%s: container %s", d, c.Name)
		if nonRoot == nil || !*nonRoot {
			t.Errorf("%s: runAsNonRoot must be true", where)
		}
		// The image's USER is the name "nonroot": without a numeric uid
		// the kubelet refuses to start a runAsNonRoot container.
		if uid == nil || *uid == 0 {
			t.Errorf("%s: runAsUser must be a non-zero uid (65532 in the distroless image)", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests[r] == nil {
				t.Errorf("%s: resources.requests.%s is required", where, r)
			}
		}
		if c.Resources.Limits["memory"] == nil {
			t.Errorf("%s: resources.limits.memory is required", where)
		}
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- credentials

var (
	// A Twilio Account SID / API key SID: AC or SK + 32 hex digits.
	twilioSID = regexp.MustCompile(`(?i)\b(AC|SK)[0-9a-f]{32}\b`)
	// An Auth Token or API secret: 32 hex digits.
	hex32 = regexp.MustCompile(`(?i)\b[0-9a-f]{32}\b`)
)

func secretTemplate(t *testing.T, docs []doc) doc {
	t.Helper()
	for _, d := range docs {
		if d.file == secretTemplateFile && d.kind() == "Secret" {
			return d
		}
	}
	t.Fatalf("%s: no Secret", secretTemplateFile)
	return doc{}
}

// TestSecretsArePlaceholders: every Secret under deploy/ (the template, and
// any an overlay might add) holds placeholders, never a credential.
func TestSecretsArePlaceholders(t *testing.T) {
	docs := loadDeploy(t)
	tmpl := secretTemplate(t, docs)
	sd, _ := get(tmpl.obj, "stringData").(map[string]any)
	for _, k := range []string{"OTP_SECRET", "API_KEYS", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"} {
		if _, ok := sd[k]; !ok {
			t.Errorf("%s: stringData.%s missing", tmpl, k)
		}
	}
	for _, d := range docs {
		if d.kind() != "Secret" {
			continue
		}
		values := map[string]string{}
		for k, v := range mapOf(get(d.obj, "stringData")) {
			values[k] = fmt.Sprint(v)
		}
		for k, v := range mapOf(get(d.obj, "data")) {
			b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v))
			if err != nil {
				t.Errorf("%s: data.%s is not base64", d, k)
			}
			values[k] = string(b)
		}
		for k, v := range values {
			if twilioSID.MatchString(v) || hex32.MatchString(v) {
				t.Errorf("%s: %s looks like a real Twilio credential; never commit one", d, k)
			}
			if !strings.Contains(strings.ToLower(v), "change-me") {
				t.Errorf("%s: %s = a value that is not a placeholder; a template holds \"change-me\" only", d, k)
			}
		}
	}
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

// TestNoTwilioSIDInFiles scans the raw text, comments included.
func TestNoTwilioSIDInFiles(t *testing.T) {
	files := []string{composeFile}
	_ = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (isYAML(p) || strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".env")) {
			files = append(files, p)
		}
		return err
	})
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := twilioSID.Find(b); m != nil {
			t.Errorf("%s: contains what looks like a Twilio SID (%.6s…)", f, m)
		}
	}
}

// ---------------------------------------------------------------- kustomize build

// TestKustomizeBuild renders base and each overlay with kustomize (the
// version internal/tools/external pins: what kubectl kustomize runs, no
// cluster needed) and checks the rendered objects with the same rules.
func TestKustomizeBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kustomize")
	}
	dirs := []string{"base"}
	overlays, _ := filepath.Glob("overlays/*/kustomization.yaml")
	for _, o := range overlays {
		dirs = append(dirs, filepath.Dir(o))
	}
	for _, dir := range dirs {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			out, err := exec.Command("go", "tool", "-modfile=../internal/tools/external/go.mod", "kustomize", "build", dir).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("kustomize build %s: %v\n%s", dir, err, ee.Stderr)
				}
				t.Fatal(err)
			}
			ms, err := parseYAML(dir+" (rendered)", out)
			if err != nil {
				t.Fatal(err)
			}
			var objs []doc
			for i, m := range ms {
				d := doc{file: dir + " (rendered)", idx: i, obj: m}
				if d.kind() == "Secret" {
					t.Errorf("%s: renders a Secret; create otpd-secrets out of band", d)
				}
				objs = append(objs, d)
			}
			checkSet(t, objs)
		})
	}
}

// ---------------------------------------------------------------- docker compose

type composeService struct {
	Image           string         `json:"image"`
	Build           any            `json:"build"`
	Command         any            `json:"command"`
	ContainerName   string         `json:"container_name"`
	Ports           []any          `json:"ports"`
	Environment     any            `json:"environment"`
	Restart         string         `json:"restart"`
	StopGracePeriod string         `json:"stop_grace_period"`
	Healthcheck     map[string]any `json:"healthcheck"`
	DependsOn       any            `json:"depends_on"`
	EnvFile         any            `json:"env_file"`
}

func TestDockerCompose(t *testing.T) {
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := parseYAML(composeFile, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("%s: want one document, got %d", composeFile, len(ms))
	}
	var file struct {
		Services map[string]composeService `json:"services"`
	}
	j, _ := json.Marshal(ms[0])
	if err := json.Unmarshal(j, &file); err != nil {
		t.Fatal(err)
	}
	svcs := file.Services
	for _, name := range []string{"redis", "api", "worker"} {
		if _, ok := svcs[name]; !ok {
			t.Fatalf("%s: no service %s", composeFile, name)
		}
	}

	redis := svcs["redis"]
	cmd := " " + strings.Join(words(redis.Command), " ") + " "
	for _, want := range []string{" --appendonly yes ", " --maxmemory-policy noeviction "} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis: command %q lacks %q (asynq loses tasks otherwise)", cmd, strings.TrimSpace(want))
		}
	}
	if len(words(redis.Healthcheck["test"])) == 0 {
		t.Errorf("redis: healthcheck required (api and worker wait for it)")
	}

	for name, s := range svcs {
		for _, p := range s.Ports {
			ps, _ := p.(string)
			if m, ok := p.(map[string]any); ok {
				ps = str(m["host_ip"]) + ":"
			}
			if !strings.HasPrefix(ps, "127.0.0.1:") {
				t.Errorf("%s: port %v is not bound to 127.0.0.1", name, p)
			}
		}
		// Compose before 2.24 (Debian's docker-compose 1.29) refuses the
		// {path, required} form; `make up` creates .env instead.
		for _, f := range asList(s.EnvFile) {
			if _, ok := f.(string); !ok {
				t.Errorf("%s: env_file entry %v: want a plain path, which Compose before 2.24 accepts", name, f)
			}
		}
		if f, ok := s.EnvFile.(map[string]any); ok {
			t.Errorf("%s: env_file %v: want a path or a list of paths", name, f)
		}
		hc := words(s.Healthcheck["test"])
		restarts := s.Restart == "always" || s.Restart == "unless-stopped" || strings.HasPrefix(s.Restart, "on-failure")
		if len(hc) == 0 && !restarts {
			t.Errorf("%s: neither a healthcheck nor a restart policy", name)
		}
		if s.Build != nil && len(hc) > 0 {
			// Our image is distroless: no shell, curl or wget.
			if hc[0] != "CMD" || len(hc) < 2 || !strings.HasPrefix(hc[1], "/usr/local/bin/") {
				t.Errorf("%s: healthcheck %v must exec one of the image's binaries (distroless: no shell, curl or wget)", name, hc)
			}
		}
		for dep, cond := range dependsOn(s.DependsOn) {
			if _, ok := svcs[dep]; !ok {
				t.Errorf("%s: depends on unknown service %s", name, dep)
			}
			if cond == "service_healthy" && len(words(svcs[dep].Healthcheck["test"])) == 0 {
				t.Errorf("%s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	for _, name := range []string{"api", "worker"} {
		if dependsOn(svcs[name].DependsOn)["redis"] != "service_healthy" {
			t.Errorf("%s: want depends_on redis: condition: service_healthy", name)
		}
	}

	w := svcs["worker"]
	if w.ContainerName != "" || len(w.Ports) > 0 {
		t.Errorf("worker: container_name and published ports prevent --scale worker=N")
	}
	env := composeEnv(w.Environment)
	shutdown := composeDuration(t, "worker: WORKER_SHUTDOWN_TIMEOUT", env["WORKER_SHUTDOWN_TIMEOUT"], defaultShutdownTimeout)
	twilio := composeDuration(t, "worker: TWILIO_TIMEOUT", env["TWILIO_TIMEOUT"], defaultTwilioTimeout)
	grace := composeDuration(t, "worker: stop_grace_period", w.StopGracePeriod, 10*time.Second) // Docker's default
	if !(twilio < shutdown && shutdown < grace) {
		t.Errorf("worker: want TWILIO_TIMEOUT (%v) < WORKER_SHUTDOWN_TIMEOUT (%v) < stop_grace_period (%v)", twilio, shutdown, grace)
	}
	api := svcs["api"]
	if g := composeDuration(t, "api: stop_grace_period", api.StopGracePeriod, 10*time.Second); g <= apiDrainTimeout {
		t.Errorf("api: stop_grace_period %v must exceed the drain timeout %v", g, apiDrainTimeout)
	}
	// The unauthenticated /metrics and /monitoring/ off the API's port (a
	// .env with APP_ENV=production refuses to start otherwise), and the
	// worker's listener on the compose network, not its loopback default.
	apiEnv := composeEnv(api.Environment)
	if admin := apiEnv["API_ADMIN_ADDR"]; admin == "" || admin == apiEnv["HTTP_ADDR"] {
		t.Errorf("api: API_ADMIN_ADDR=%q, want a listener of its own beside HTTP_ADDR=%q", admin, apiEnv["HTTP_ADDR"])
	}
	if loopbackAddr(env["WORKER_METRICS_ADDR"], defaultMetricsAddr) {
		t.Errorf("worker: set WORKER_METRICS_ADDR (e.g. :9090): its default is loopback")
	}
}

// The compose file reads .env, which Compose (any version) requires to
// exist: `make up` must create it from the example, whose every line is a
// comment, so that a fresh checkout starts.
func TestMakeUpCreatesDotEnv(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	if !regexp.MustCompile(`(?m)^up: .*\.env\b`).MatchString(mk) || !regexp.MustCompile(`(?m)^\.env:\n\tcp -n \.env\.example \.env$`).MatchString(mk) {
		t.Errorf("Makefile: want `up: .env` and a `.env:` rule that copies .env.example without overwriting")
	}
	ex, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(ex), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf(".env.example:%d: %q is a setting; every line must be a comment, so a copied .env changes nothing", i+1, line)
		}
	}
}

// TestComposeConfig has the Compose on PATH (v2's docker compose, or v1's
// docker-compose, the oldest the file supports and what .ci/run installs)
// validate docker-compose.yml: `config` needs no engine.
func TestComposeConfig(t *testing.T) {
	var compose []string
	if exec.Command("docker", "compose", "version").Run() == nil {
		compose = []string{"docker", "compose"}
	} else if p, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{p}
	} else {
		proctest.Lack(t, "neither docker compose nor docker-compose is on PATH (apt-get install docker-compose)")
	}
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{"docker-compose.yml": b, ".env": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(compose[0], append(compose[1:], "config", "-q")...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(compose, " "), err, out)
	}
}

// words flattens a compose command or healthcheck test (list or string).
func words(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		return strs(x)
	}
	return nil
}

func dependsOn(v any) map[string]string {
	out := map[string]string{}
	switch x := v.(type) {
	case []any:
		for _, s := range strs(x) {
			out[s] = "service_started"
		}
	case map[string]any:
		for k, c := range x {
			out[k] = str(get(c, "condition"))
		}
	}
	return out
}

func composeEnv(v any) map[string]string {
	out := map[string]string{}
	switch x := v.(type) {
	case []any:
		for _, s := range strs(x) {
			k, val, _ := strings.Cut(s, "=")
			out[k] = val
		}
	case map[string]any:
		for k, val := range x {
			out[k] = fmt.Sprint(val)
		}
	}
	return out
}

func composeDuration(t *testing.T, what, s string, def time.Duration) time.Duration {
	t.Helper()
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Errorf("%s: %q: %v", what, s, err)
	}
	return d
}

// The example overlay is a production configuration that starts: base plus
// its patch, with credentials of the right shape in place of the Secret,
// passes the processes' own validation. The base alone must not: production
// refuses to run without a country list and a budget, a choice the base
// leaves to each installation.
func TestExampleOverlayConfigStarts(t *testing.T) {
	data := func(file string) map[string]string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := parseYAML(file, b)
		if err != nil || len(docs) != 1 {
			t.Fatalf("%s: %v", file, err)
		}
		out := map[string]string{}
		for k, v := range docs[0]["data"].(map[string]any) {
			out[k] = fmt.Sprint(v)
		}
		return out
	}
	secrets := map[string]string{
		"OTP_SECRET": strings.Repeat("s", 48), "API_KEYS": strings.Repeat("k", 24),
		"TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN": "token",
		"TWILIO_PHONE_NUMBER": "+15005550006",
	}
	// env is what a Deployment's container adds over the ConfigMap.
	env := func(file string) map[string]string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := parseYAML(file, b)
		if err != nil || len(docs) != 1 {
			t.Fatalf("%s: %v", file, err)
		}
		out := map[string]string{}
		for _, c := range as[deployment](t, doc{file: file, obj: docs[0]}).Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				out[e.Name] = e.Value
			}
		}
		return out
	}
	load := func(process string, layers ...map[string]string) (config.Config, error) {
		env := map[string]string{}
		for _, l := range append(layers, secrets) {
			for k, v := range l {
				env[k] = v
			}
		}
		return config.LoadFor(func(k string) string { return env[k] }, process)
	}
	base, patch := data("base/configmap.yaml"), data("overlays/example/config-patch.yaml")
	if _, err := load("api", base, patch, env("base/api-deployment.yaml")); err != nil {
		t.Fatalf("the example overlay's api does not start: %v", err)
	}
	w, err := load("worker", base, patch, env("base/worker-deployment.yaml"))
	if err != nil {
		t.Fatalf("the example overlay's worker does not start: %v", err)
	}
	if slices.ContainsFunc(w.Warnings, func(s string) bool { return strings.Contains(s, "WORKER_METRICS_ADDR") }) {
		t.Fatalf("the worker listens on loopback, out of its probes' reach: %q", w.Warnings)
	}
	if _, err := load("api", base, patch); err == nil || !strings.Contains(err.Error(), "API_ADMIN_ADDR") {
		t.Fatalf("the api without its Deployment's env must name API_ADMIN_ADDR: %v", err)
	}
	if _, err := load("", base); err == nil || !strings.Contains(err.Error(), "ALLOWED_COUNTRIES") {
		t.Fatalf("the base alone must name ALLOWED_COUNTRIES: %v", err)
	}
}

// The Dockerfile copies the whole build context (`COPY . .`), so a local
// .env with real secrets would land in the build stage's layers unless
// .dockerignore keeps it out. Matched with Docker's own matcher.
func TestDockerIgnoreKeepsSecretsOut(t *testing.T) {
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for path, excluded := range map[string]bool{
		".env": true, ".env.local": true, "deploy/.env": true, ".git/config": true, "bin/api": true,
		".env.example": false, "go.mod": false, "go.sum": false, "cmd/api/main.go": false, "api/openapi.yaml": false,
	} {
		got, err := pm.MatchesOrParentMatches(path)
		if err != nil || got != excluded {
			t.Errorf("%s: excluded = %v (%v), want %v", path, got, err, excluded)
		}
	}
}
