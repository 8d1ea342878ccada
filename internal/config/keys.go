package config

import (
	"maps"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The config's own words for its errors. The YAML library reports an unknown key or a value of the wrong kind in
// Go's terms ("field reminder_offset not found in type config.Org", "cannot unmarshal !!str `x` into int") and
// by line; the functions here name the key by its path in the file (organizations[0].reminder_offset) instead,
// suggest the key that was probably meant, and describe the expected value without Go type names.

// keyPaths walks the parsed document along the Config type. It returns the first unknown key as a field error,
// and records the path of every key and value by line, so that errors the decoder reports by line can name the
// field. Aliases are not followed (the decoder, with KnownFields, still checks what they expand to).
func keyPaths(doc *yaml.Node) (map[int][]string, error) {
	lines := map[int][]string{}
	var walk func(n *yaml.Node, t reflect.Type, path string) error
	walk = func(n *yaml.Node, t reflect.Type, path string) error {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if n.Line > 0 && path != "" {
			lines[n.Line] = appendPath(lines[n.Line], path)
		}
		if reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		switch {
		case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
			fields := yamlFields(t)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind != yaml.ScalarNode {
					continue
				}
				sub := join(path, k.Value)
				lines[k.Line] = appendPath(lines[k.Line], sub)
				ft, ok := fields[k.Value]
				if !ok {
					msg := "unknown key"
					if s := suggest(k.Value, fields); s != "" {
						msg += " (did you mean " + s + "?)"
					}
					return fieldErr(sub, "%s", msg)
				}
				if err := walk(v, ft, sub); err != nil {
					return err
				}
			}
		case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
			for i, v := range n.Content {
				if err := walk(v, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return lines, walk(doc.Content[0], reflect.TypeOf(Config{}), "")
	}
	return lines, nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func appendPath(list []string, p string) []string {
	for _, x := range list {
		if x == p {
			return list
		}
	}
	return append(list, p)
}

// yamlFields maps the YAML keys of a struct to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			maps.Copy(out, yamlFields(f.Type))
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest returns the known key closest to an unknown one, if it is close enough to be a typo (at most a third of
// its letters differ, two for a short key) or one contains the other (reminder_offset for reminder_offsets).
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", max(2, len(key)/3)+1
	for _, k := range names {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range names {
		if len(key) >= 4 && (strings.Contains(k, strings.ToLower(key)) || strings.Contains(strings.ToLower(key), k)) {
			return k
		}
	}
	return ""
}

// distance is the Levenshtein distance between two strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	lineRE      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	notFoundRE  = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+) (`[^`]*`|.*?) ?into (\\S+)$")
	duplicateRE = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
)

// wordsOf rewrites one decoder message ("line 7: cannot unmarshal !!str `abc` into int") in the config's terms
// ("organizations[0].max_attempts: `abc` is not a whole number"), naming the field by the line's path where it
// is known.
func wordsOf(msg string, lines map[int][]string) string {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	rest := m[2]
	path := pathAt(lines[line])
	if nf := notFoundRE.FindStringSubmatch(rest); nf != nil {
		return join(path, nf[1]) + ": unknown key"
	}
	if dm := duplicateRE.FindStringSubmatch(rest); dm != nil {
		rest = "is given twice (first at line " + dm[2] + ")"
	}
	if um := unmarshalRE.FindStringSubmatch(rest); um != nil {
		got := strings.TrimSpace(um[2])
		if got == "" {
			got = "a " + kindName(um[1])
		}
		rest = got + " is not " + expected(um[3])
	}
	if path == "" {
		return "line " + m[1] + ": " + rest
	}
	return path + ": " + rest
}

// pathAt picks the path of a line: the only one, or, when a flow mapping puts several keys on one line, the
// mapping they share.
func pathAt(paths []string) string {
	switch len(paths) {
	case 0:
		return ""
	case 1:
		return paths[0]
	}
	common := paths[0]
	for _, p := range paths[1:] {
		for !strings.HasPrefix(p, common) {
			i := strings.LastIndexAny(common, ".[")
			if i < 0 {
				return ""
			}
			common = common[:i]
		}
	}
	return common
}

func kindName(tag string) string {
	switch tag {
	case "seq":
		return "list"
	case "map":
		return "mapping"
	}
	return "value"
}

// expected names a Go type the way the config's reference does.
func expected(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case goType == "int" || strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case goType == "bool":
		return "true or false"
	case goType == "string" || goType == "appt.Platform":
		return "text"
	case strings.HasPrefix(goType, "config."):
		return "a mapping of keys"
	}
	return "a value of the right kind"
}
