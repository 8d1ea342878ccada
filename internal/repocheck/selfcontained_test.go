package repocheck

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// outsideRef matches a reference to a document that is not part of the repository: the upstream contract
// (its file name, its numbered sections), its engine notes, or a path into the directory next to the checkout. The
// words are split so that this file does not match itself.
var outsideRef = regexp.MustCompile(`SPEC(\.md| ?§|:|'s|-wise)|` + `ENGINE` + `-NOTES|\.\./` + `shared\b|/work/` + `shared\b`)

// offending returns "path:line: text" for every line of content that references something outside the repository.
func offending(path string, content []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		if outsideRef.Match(sc.Bytes()) {
			out = append(out, path+":"+strconv.Itoa(n)+": "+strings.TrimSpace(sc.Text()))
		}
	}
	return out
}

// repoFiles lists the files git tracks, plus the untracked files it does not ignore (new work not yet added).
func repoFiles(t *testing.T) (root string, files []string) {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): nothing to list", err)
	}
	root = strings.TrimSpace(string(top))
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return root, files
}

// TestNoReferenceOutsideTheRepository fails when any file of the repository (code, comments, error messages,
// tests, docs, examples, CI scripts) mentions the upstream contract or its notes. Cite docs/rules.md instead.
func TestNoReferenceOutsideTheRepository(t *testing.T) {
	root, files := repoFiles(t)
	if len(files) < 50 {
		t.Fatalf("git listed only %d files under %s: the check would prove nothing", len(files), root)
	}
	var bad []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatalf("read %s: %v", f, err)
		}
		bad = append(bad, offending(f, b)...)
	}
	if len(bad) > 0 {
		t.Errorf("%d line(s) reference documents outside the repository; cite docs/rules.md and say it in our own words:\n%s",
			len(bad), strings.Join(bad, "\n"))
	}
}

// TestOutsideRefPattern pins what the check catches and what it leaves alone, so that a change to the pattern
// cannot quietly make the repository-wide test pass everything.
func TestOutsideRefPattern(t *testing.T) {
	caught := []string{
		"// Exit codes follow SPEC" + " §6.",
		"see SPEC" + "§4",
		"The contract is SPEC" + ".md",
		"// Search attribute keys (SPEC" + ": operators find appointments)",
		"(ENGINE" + "-NOTES measured it)",
		"cat ../" + "shared/seed.txt",
		"the SPEC" + "'s own examples",
	}
	for _, line := range caught {
		if got := offending("x.go", []byte("ok\n"+line+"\n")); len(got) != 1 || !strings.HasPrefix(got[0], "x.go:2: ") {
			t.Errorf("%q: got %q, want one hit on line 2", line, got)
		}
	}
	allowed := []string{
		"TwilioSpec = \"node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json\"",
		"see docs/rules.md#flags",
		"spec := filepath.Join(dir, TwilioSpec)",
		"OpenAPI spec.yaml",
	}
	for _, line := range allowed {
		if got := offending("x.go", []byte(line)); len(got) != 0 {
			t.Errorf("%q flagged: %q", line, got)
		}
	}
}
