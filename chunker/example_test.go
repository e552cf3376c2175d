package chunker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	"github.com/shoal-sync/shoal/chunker"
)

func ExampleSplit() {
	c, err := chunker.Parse("size-262144")
	if err != nil {
		log.Fatal(err)
	}
	data := bytes.Repeat([]byte("shoal"), 120000) // 600000 bytes
	err = chunker.Split(context.Background(), bytes.NewReader(data), chunker.Options{Config: c},
		func(ch chunker.Chunk) error {
			fmt.Printf("chunk %d at %d: %d bytes, sha256 %x...\n", ch.Index, ch.Offset, len(ch.Data), ch.Sum[:4])
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// chunk 0 at 0: 262144 bytes, sha256 31a65971...
	// chunk 1 at 262144: 262144 bytes, sha256 0a8437dd...
	// chunk 2 at 524288: 75712 bytes, sha256 207a02e7...
}

func ExampleNewSplitter() {
	s := chunker.NewSplitter(bytes.NewReader(make([]byte, 1<<20)), chunker.DefaultConfig())
	for {
		ch, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(ch)) // zeros never match a mask: every chunk is max size
	}
	// Output:
	// 262144
	// 262144
	// 262144
	// 262144
}
