// Peer check for bench/sbom-peer.sh: reads SPDX 2.3 JSON with the SPDX project's tools-golang, validates it with
// spdxlib and writes it as tag-value (FILE.spdx beside it). Exit status: the number of documents that failed.
package main

import (
	"fmt"
	"os"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"github.com/spdx/tools-golang/tagvalue"
)

func main() {
	bad := 0
	for _, f := range os.Args[1:] {
		r, err := os.Open(f)
		if err != nil {
			panic(err)
		}
		doc, err := spdxjson.Read(r)
		if err != nil {
			fmt.Printf("%s: READ ERROR %v\n", f, err)
			bad++
			continue
		}
		if err := spdxlib.ValidateDocument(doc); err != nil {
			fmt.Printf("%s: INVALID %v\n", f, err)
			bad++
			continue
		}
		described, err := spdxlib.GetDescribedPackageIDs(doc)
		fmt.Printf("%s: valid; %d packages, %d relationships, %d described (%v)\n", f, len(doc.Packages), len(doc.Relationships), len(described), err)
		out, _ := os.Create(f + ".spdx")
		if err := tagvalue.Write(doc, out); err != nil {
			fmt.Printf("%s: tag-value ERROR %v\n", f, err)
			bad++
		}
	}
	os.Exit(bad)
}
