package console

import "embed"

// assets are the console's pages: index.html and, under static/, its
// script, style sheet and icon.
//
//go:embed assets
var assets embed.FS
