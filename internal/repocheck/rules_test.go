package repocheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ruleLine matches the line that ends each rule in docs/rules.md: "→ code: `dir.Name`, …; test: `dir.TestName`, …".
var ruleLine = regexp.MustCompile(`^\s*(?:- )?→ code: (.+); test: (.+)$`)

var backticked = regexp.MustCompile("`([^`]+)`")

// TestRulesNameRealCode: every rule in docs/rules.md names its code and its tests, so a reader goes from the rule to
// both in one step, and every name on those lines exists. A name is a package directory and a declaration in it:
// `workflows.plan`, `workflows.occurrence.missed` (a method: type, then method), `internal/appt.CarriesJoinLink`;
// a test is a Test function in that directory. The Go files are parsed with go/parser, so a rename that leaves
// the docs behind fails here.
func TestRulesNameRealCode(t *testing.T) {
	root, _ := repoFiles(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	decls := map[string]map[string]bool{} // directory -> declared names
	declared := func(dir string) map[string]bool {
		if d, ok := decls[dir]; ok {
			return d
		}
		d := declsIn(t, filepath.Join(root, filepath.FromSlash(dir)))
		decls[dir] = d
		return d
	}
	rules := 0
	for n, line := range strings.Split(string(doc), "\n") {
		m := ruleLine.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(strings.TrimSpace(line), "→") {
				t.Errorf("docs/rules.md:%d: a rule's line must read \"→ code: `…`; test: `…`\": %s", n+1, line)
			}
			continue
		}
		rules++
		for part, names := range map[string]string{"code": m[1], "test": m[2]} {
			refs := backticked.FindAllStringSubmatch(names, -1)
			if len(refs) == 0 {
				t.Errorf("docs/rules.md:%d: no %s named", n+1, part)
			}
			for _, r := range refs {
				dir, name, ok := splitRef(r[1])
				if !ok {
					t.Errorf("docs/rules.md:%d: %q is not a package directory and a name", n+1, r[1])
					continue
				}
				if part == "test" && !strings.HasPrefix(name, "Test") {
					t.Errorf("docs/rules.md:%d: %q is not a test function", n+1, r[1])
				}
				if !declared(dir)[name] {
					t.Errorf("docs/rules.md:%d: %s names %s, which %s does not declare", n+1, part, name, dir)
				}
			}
		}
	}
	if rules < 20 {
		t.Errorf("docs/rules.md names code and tests for %d rules; every rule needs its line", rules)
	}
}

// splitRef splits "internal/appt.Type.Method" into "internal/appt" and "Type.Method".
func splitRef(ref string) (dir, name string, ok bool) {
	slash := strings.LastIndex(ref, "/")
	dot := strings.Index(ref[slash+1:], ".")
	if dot < 0 {
		return "", "", false
	}
	dot += slash + 1
	return ref[:dot], ref[dot+1:], ref[dot+1:] != ""
}

// declsIn returns the top-level declarations of every Go file in dir, tests included: functions as Name, methods
// as Type.Method, types, constants and variables as Name.
func declsIn(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Errorf("%s: no Go files", dir)
		return map[string]bool{}
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					name = recvType(d.Recv.List[0].Type) + "." + name
				}
				out[name] = true
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						out[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							out[n.Name] = true
						}
					}
				}
			}
		}
	}
	return out
}

func recvType(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvType(e.X)
	case *ast.IndexExpr:
		return recvType(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// ruleNumber matches a test comment that cites a rule by a number no document has.
var ruleNumber = regexp.MustCompile(`//\s*Rules? \d+`)

// TestTestCommentsStateTheirRule: test comments state their rule in a sentence; docs/rules.md has no numbering
// for a "Rule 5" to point at.
func TestTestCommentsStateTheirRule(t *testing.T) {
	root, files := repoFiles(t)
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // listed but deleted in the working tree
		}
		for n, line := range strings.Split(string(b), "\n") {
			if ruleNumber.MatchString(line) {
				t.Errorf("%s:%d: state the rule, not its number: %s", f, n+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestEverySectionOfRulesNamesCode: every section of docs/rules.md that states rules (a "##" or "###" heading with
// text under it) has at least one "→ code: …; test: …" line, so no rule is left without a way to its code and its
// tests; a heading with only subsections under it states nothing itself.
func TestEverySectionOfRulesNamesCode(t *testing.T) {
	root, _ := repoFiles(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	var heading string
	var prose, lines, sections int
	done := func() {
		if heading != "" && prose > 0 && lines == 0 {
			t.Errorf("docs/rules.md: section %q states rules but names no code and tests (→ code: …; test: …)", heading)
		}
	}
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "## "), strings.HasPrefix(line, "### "):
			done()
			heading, prose, lines = strings.TrimLeft(line, "# "), 0, 0
			sections++
		case ruleLine.MatchString(line):
			lines++
		case strings.TrimSpace(line) != "":
			prose++
		}
	}
	done()
	if sections < 10 {
		t.Errorf("docs/rules.md has %d sections; the check reads \"## \" and \"### \" headings", sections)
	}
}
