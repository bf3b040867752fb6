// Command canary calls a function with a known vulnerability (GO-2021-0113,
// golang.org/x/text/language.Parse before v0.3.7). `make vulncheck` expects
// govulncheck to find it here: proof that the local database is read and
// matched, so that "No vulnerabilities found" for hamon means something.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse(os.Args[len(os.Args)-1])
	fmt.Println(tag, err)
}
