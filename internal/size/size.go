// Package size reads sizes in bytes as people write them, for flags and the
// config file alike.
package size

import (
	"fmt"
	"strconv"
	"strings"
)

// units are the units Parse takes, in lower case: SI for kB to TB (disks
// and asciinema count so), binary for KiB to TiB.
var units = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// Parse reads a size in bytes: "1048576", "50MB", "1.5GiB". Bare K, M and G
// are refused: they mean 1000s to some and 1024s to others.
func Parse(s string) (int64, error) {
	num := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ")
	unit, ok := units[strings.ToLower(strings.TrimSpace(s[len(num):]))]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || strings.Trim(num, "0123456789.") != "" || f*unit >= 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 50MB, 1GiB or 1048576 (bytes)", s)
	}
	return int64(f * unit), nil
}
