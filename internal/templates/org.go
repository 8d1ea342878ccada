package templates

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/apptnotify/apptnotify/internal/config"
)

// org returns an organisation's overrides, nil when it has none.
func (s *Set) org(id string) *orgTemplates {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.orgs[id]
}

// parseOrg parses an organisation's overrides: the files of its templates_dir, then its templates as data, which
// win over a file of the same name. Errors name the file or the templates key.
func parseOrg(o *config.Org) (*orgTemplates, error) {
	ot := &orgTemplates{name: orgName(o), all: bundle{}, langs: map[string]bundle{}}
	if o.TemplatesDir != "" {
		if err := ot.load(o.TemplatesDir); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(o.Templates))
	for n := range o.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		lang, name := "", n
		if dir, file, ok := strings.Cut(n, "/"); ok {
			if !langDirRe.MatchString(dir) || strings.Contains(file, "/") {
				return nil, fmt.Errorf("templates[%q]: a key is <file> or <language>/<file>, the language a lower-case base language such as de", n)
			}
			lang, name = dir, file
		}
		if path.Ext(name) != ".txt" && path.Ext(name) != ".html" {
			return nil, fmt.Errorf("templates[%q]: a template's name ends in .txt or .html", n)
		}
		k, t, err := parseOne(name, o.Templates[n], fmt.Sprintf("templates[%q]", n))
		if err != nil {
			return nil, err
		}
		b := ot.all
		if lang != "" {
			if ot.langs[lang] == nil {
				ot.langs[lang] = bundle{}
			}
			b = ot.langs[lang]
		}
		b[k] = t
	}
	return ot, nil
}

// CheckOrg parses an organisation's templates and trial-renders every part of every type in every language it may
// meet, as Load does at start, without changing the set: what the API checks before it accepts a document.
func (s *Set) CheckOrg(o *config.Org) error {
	ot, err := parseOrg(o)
	if err != nil {
		return err
	}
	scratch := &Set{defaults: s.defaults, orgs: map[string]*orgTemplates{o.ID: ot}}
	return scratch.trial(o.ID)
}

// SetOrg parses and trial-renders an organisation's templates and, if they all render, puts them in force for
// every later render; otherwise the set is unchanged and the error names the organisation and the template. The
// worker calls it whenever it reads a new revision of an organisation's document.
func (s *Set) SetOrg(o *config.Org) error {
	ot, err := parseOrg(o)
	if err == nil {
		scratch := &Set{defaults: s.defaults, orgs: map[string]*orgTemplates{o.ID: ot}}
		err = scratch.trial(o.ID)
	}
	if err != nil {
		return fmt.Errorf("templates: organisation %s: %w", o.ID, err)
	}
	s.mu.Lock()
	s.orgs[o.ID] = ot
	s.mu.Unlock()
	return nil
}
