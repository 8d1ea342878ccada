package deploy_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"gopkg.in/yaml.v3"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/workerapp"
)

// compose is the part of a compose file these tests read.
type compose struct {
	Services map[string]service `yaml:"services"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   yaml.Node         `yaml:"depends_on"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
	Restart string                 `yaml:"restart"`
	Ports   []string               `yaml:"ports"`
	Command any                    `yaml:"command"`
	Deploy  struct{ Replicas int } `yaml:"deploy"`
}

func loadCompose(t *testing.T, path string) compose {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(b, &c), path)
	require.NotEmpty(t, c.Services, path)
	return c
}

// moduleVersion is the version go.mod requires of a module, without the "v".
func moduleVersion(t *testing.T, module string) string {
	t.Helper()
	f, err := os.Open("../go.mod")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return strings.TrimPrefix(fields[1], "v")
		}
	}
	t.Fatalf("go.mod does not require %s", module)
	return ""
}

// minor is "1.32" of "1.32.1".
func minor(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// imageRef splits an image reference into its repository and tag ("" if none); a digest counts as a tag.
func imageRef(image string) (repo, tag string) {
	if at := strings.Index(image, "@"); at >= 0 {
		return image[:at], image[at+1:]
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[:colon], image[colon+1:]
	}
	return image, ""
}

// imageProblem says what is wrong with an image reference under the project's rules, or "".
func imageProblem(image string) string {
	repo, tag := imageRef(image)
	switch {
	case image == "":
		return "no image"
	case strings.Contains(image, "${"):
		return "the image is a variable: pin it in the file"
	case repo == "temporalio/auto-setup":
		return "temporalio/auto-setup is deprecated (no new builds or security fixes): use temporalio/server and temporalio/admin-tools"
	case tag == "":
		return "untagged (that is :latest)"
	case tag == "latest":
		return ":latest is not a pin"
	}
	return ""
}

func TestImageRules(t *testing.T) {
	for image, want := range map[string]bool{
		"temporalio/server:1.32.1": true, "postgres:16.10": true, "registry.example:5000/team/app:1.2": true,
		"temporalio/ui@sha256:0123": true, "temporalio/auto-setup:1.28": false, "postgres": false, "postgres:latest": false,
		"registry.example:5000/team/app": false, "temporalio/server:${TAG}": false,
	} {
		assert.Equal(t, want, imageProblem(image) == "", "%s: %s", image, imageProblem(image))
	}
}

// dependencies returns a service's depends_on as service -> condition; the short (list) form has no condition.
func dependencies(t *testing.T, name string, s service) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		var list []string
		require.NoError(t, s.DependsOn.Decode(&list))
		for _, d := range list {
			out[d] = ""
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		require.NoError(t, s.DependsOn.Decode(&m))
		for d, c := range m {
			out[d] = c.Condition
		}
	default:
		t.Fatalf("%s: depends_on is neither a list nor a map", name)
	}
	return out
}

// TestComposeFile holds docker-compose.yml to the cluster path's rules: maintained images, pinned (never :latest,
// never the deprecated temporalio/auto-setup), Temporal's images at the minor versions the project embeds; the
// services the topology needs; a health check on every long-running service that another one waits for, and
// one-shot jobs waited for until they complete; the UI pointed at the codec endpoint; and an HTTP API that holds no
// worker secret.
func TestComposeFile(t *testing.T) {
	c := loadCompose(t, "../docker-compose.yml")
	server := moduleVersion(t, "go.temporal.io/server")
	ui := moduleVersion(t, "github.com/temporalio/ui-server/v2")

	for name, s := range c.Services {
		if s.Build != nil && s.Image != "" {
			// Built here; the image is only the tag it gets.
			_, tag := imageRef(s.Image)
			assert.True(t, tag != "" && tag != "latest", "%s: built as %q: give it a tag other than latest", name, s.Image)
			continue
		}
		if p := imageProblem(s.Image); p != "" {
			t.Errorf("%s: image %q: %s", name, s.Image, p)
			continue
		}
		repo, tag := imageRef(s.Image)
		switch repo {
		case "temporalio/server", "temporalio/admin-tools":
			assert.Equal(t, minor(server), minor(tag), "%s: %s is not at the embedded server's minor version (go.temporal.io/server v%s)", name, s.Image, server)
		case "temporalio/ui":
			assert.Equal(t, minor(ui), minor(tag), "%s: %s is not at the embedded UI's minor version (ui-server v%s)", name, s.Image, ui)
		}
	}

	byImage := func(repo string) []string {
		var names []string
		for name, s := range c.Services {
			if r, _ := imageRef(s.Image); r == repo {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	require.Len(t, byImage("temporalio/server"), 1, "one Temporal server")
	require.Len(t, byImage("temporalio/ui"), 1, "the Temporal Web UI")
	require.NotEmpty(t, byImage("postgres"), "PostgreSQL")
	require.NotEmpty(t, byImage("axllent/mailpit"), "Mailpit")
	for _, name := range []string{"temporal-schema", "temporal-setup", "worker", "codec", "api"} {
		require.Contains(t, c.Services, name)
	}

	// The admin-tools jobs: the schema (the server's SQL tool, both databases) and the namespace with the search
	// attributes the workflow upserts.
	admin := byImage("temporalio/admin-tools")
	require.ElementsMatch(t, []string{"temporal-schema", "temporal-setup"}, admin)
	schema := commandText(c.Services["temporal-schema"])
	for _, want := range []string{"--db temporal create-database", "--db temporal update-schema", "--db temporal_visibility create-database",
		"--db temporal_visibility update-schema", "postgresql/v12/temporal", "postgresql/v12/visibility"} {
		assert.Contains(t, schema, want, "temporal-schema")
	}
	setup := commandText(c.Services["temporal-setup"])
	assert.Contains(t, setup, "temporal operator namespace create --namespace default")
	for name, typ := range map[string]string{appt.SearchAttrOrg: "Keyword", appt.SearchAttrState: "Keyword", appt.SearchAttrStart: "Datetime",
		appt.SearchAttrAddressHashes: "KeywordList"} {
		assert.Contains(t, setup, name+":"+typ, "temporal-setup registers the search attribute %s", name)
	}
	serverEnv := c.Services[byImage("temporalio/server")[0]].Environment
	assert.Equal(t, "postgres12", serverEnv["DB"], "the server on PostgreSQL")

	// Dependencies: one-shot jobs are waited for until they complete; long-running services until their health check
	// passes, so each has one.
	oneShot := func(s service) bool { return s.Restart == "no" }
	for name, s := range c.Services {
		for dep, cond := range dependencies(t, name, s) {
			target, ok := c.Services[dep]
			if !assert.True(t, ok, "%s depends on an unknown service %s", name, dep) {
				continue
			}
			if oneShot(target) {
				assert.Equal(t, "service_completed_successfully", cond, "%s waits for the one-shot job %s to complete", name, dep)
				continue
			}
			assert.Equal(t, "service_healthy", cond, "%s waits for %s to be healthy", name, dep)
			assert.True(t, target.Healthcheck != nil && target.Healthcheck.Test != nil, "%s is depended on by %s and has no health check", dep, name)
		}
	}
	deps := dependencies(t, "worker", c.Services["worker"])
	assert.Contains(t, deps, "temporal-setup", "the workers start once the search attributes are registered")
	assert.Equal(t, 2, c.Services["worker"].Deploy.Replicas, "two worker replicas")

	// The workers' command lines are flags the worker knows.
	for _, name := range []string{"worker", "codec"} {
		args, ok := c.Services[name].Command.([]any)
		require.True(t, ok, "%s: command is a list of arguments", name)
		var flags []string
		for _, a := range args {
			flags = append(flags, a.(string))
		}
		o, err := workerapp.ParseFlags(flags, func(string) string { return "" })
		require.NoError(t, err, "%s: %v", name, flags)
		assert.NotEmpty(t, o.Metrics, "%s serves metrics", name)
		assert.Equal(t, name == "codec", o.CodecNoToken, "%s: only the development codec service runs without a token", name)
		if name == "codec" {
			assert.Equal(t, 8234, o.CodecPort, "codec: --codec-port")
			assert.Equal(t, "0.0.0.0", o.CodecIP, "codec: listens inside its container for the published port")
			assert.Equal(t, "http://localhost:8080", o.CodecCORSOrigin, "codec: the Web UI's origin")
		}
	}

	// The UI decodes payloads through the codec service, at the address the operator's browser reaches.
	codec := c.Services["codec"]
	assert.Contains(t, codec.Ports, "127.0.0.1:8234:8234", "the codec endpoint is published on localhost only")
	uiEnv := c.Services[byImage("temporalio/ui")[0]].Environment
	assert.Equal(t, "http://localhost:8234", uiEnv["TEMPORAL_CODEC_ENDPOINT"])

	// Every published port is bound to the loopback interface.
	for name, s := range c.Services {
		for _, p := range s.Ports {
			assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %s on every interface", name, p)
		}
	}

	// The HTTP API runs the starter with the key ring and its tokens, and nothing of the workers'.
	api := c.Services["api"]
	assert.Contains(t, commandText(api), "serve --listen 0.0.0.0:8088")
	var names []string
	for k := range api.Environment {
		names = append(names, k)
	}
	slices.Sort(names)
	assert.Equal(t, []string{"APPTNOTIFY_ADDRESS_KEY", "APPTNOTIFY_API_TOKENS", "APPTNOTIFY_CONFIG", "APPTNOTIFY_DATA_KEYS",
		"APPTNOTIFY_ENCRYPTION_KEYS", "APPTNOTIFY_SEAL_PUBLIC_KEY", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"},
		names, "the api service's environment: no SMTP password, Twilio token, webhook secret or seal private key")
	for _, name := range []string{"worker", "codec", "api"} {
		env := c.Services[name].Environment
		assert.Equal(t, "temporal:7233", env["TEMPORAL_ADDRESS"], name)
		assert.NotEmpty(t, env["APPTNOTIFY_ENCRYPTION_KEYS"], name)
		// The run-time organisations' keys (docs/security.md): every process hashes addresses and keeps each
		// appointment's data key in the same store; only the workers open tenant secrets.
		assert.Contains(t, env["APPTNOTIFY_ADDRESS_KEY"], ":?", "%s: the address key is required", name)
		assert.Contains(t, env["APPTNOTIFY_DATA_KEYS"], "@postgresql:5432/apptnotify", "%s: the data-key store in compose's PostgreSQL", name)
		assert.Equal(t, name != "api", env["APPTNOTIFY_SEAL_KEYS"] != "", "%s: only the workers hold the seal private keys", name)
	}
	assert.Equal(t, "apptnotify", c.Services["postgresql"].Environment["POSTGRES_DB"], "the data-key store's database is created with PostgreSQL")
}

// commandText is a service's command as one line of text.
func commandText(s service) string {
	switch c := s.Command.(type) {
	case string:
		return c
	case []any:
		var parts []string
		for _, p := range c {
			parts = append(parts, strings.TrimSpace(p.(string)))
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// TestComposeRejectsRetiredImages runs the rules on compose files that break them, so that a rule that cannot
// fail is noticed.
func TestComposeRejectsRetiredImages(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/docker-compose.yml"
	require.NoError(t, os.WriteFile(path, []byte(`services:
  temporal: {image: "temporalio/auto-setup:1.28"}
  ui: {image: temporalio/ui}
  db: {image: "postgres:latest"}
`), 0o600))
	c := loadCompose(t, path)
	var problems []string
	for _, name := range []string{"db", "temporal", "ui"} {
		problems = append(problems, name+": "+imageProblem(c.Services[name].Image))
	}
	assert.Regexp(t, regexp.MustCompile(`^db: :latest.*\|temporal: temporalio/auto-setup is deprecated.*\|ui: untagged`),
		strings.Join(problems, "|"))
}

// TestDynamicConfig loads deploy/temporal/dynamicconfig.yaml with the Temporal server's own loader: no error or
// warning, and the appointments task queue gets one partition while other queues keep the server's default.
func TestDynamicConfig(t *testing.T) {
	b, err := os.ReadFile("temporal/dynamicconfig.yaml")
	require.NoError(t, err)
	lr := dynamicconfig.LoadYamlFile(b)
	require.Empty(t, lr.Errors)
	require.Empty(t, lr.Warnings)
	col := dynamicconfig.NewCollection(mapClient(lr.Map), log.NewNoopLogger())
	read := dynamicconfig.MatchingNumTaskqueueReadPartitions.Get(col)
	write := dynamicconfig.MatchingNumTaskqueueWritePartitions.Get(col)
	for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		assert.Equal(t, 1, read("default", appt.TaskQueue, typ))
		assert.Equal(t, 1, write("default", appt.TaskQueue, typ))
		assert.Equal(t, 4, read("default", "other-queue", typ), "other task queues keep the default")
	}
}

// mapClient is a dynamicconfig.Client over loaded values.
type mapClient dynamicconfig.ConfigValueMap

func (m mapClient) GetValue(key dynamicconfig.Key) []dynamicconfig.ConstrainedValue { return m[key] }
