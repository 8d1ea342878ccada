// Package repocheck holds tests about the repository as a whole rather than about one package: the repository
// must stand on its own, so no tracked file may point at documents that live outside it. The rules those
// documents described are written down in docs/rules.md, which code and docs cite instead.
package repocheck
