// The web console's static files (server/console/*.html, *.js, *.css),
// compiled into the binary by embed_assets.cmake at build time: the page
// needs no file on disk, no CDN and no download at run time.
#ifndef NNSERVE_SERVER_CONSOLE_CONSOLE_ASSETS_H_
#define NNSERVE_SERVER_CONSOLE_CONSOLE_ASSETS_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace nn::console {

struct ConsoleAsset {
  absl::string_view path;          // the URL path: "/", "/console/app.js"
  absl::string_view content_type;  // from the file's extension
  absl::string_view body;          // the file's bytes, static storage
};

// Every embedded file, each path once.
absl::Span<const ConsoleAsset> ConsoleAssets();

}  // namespace nn::console

#endif  // NNSERVE_SERVER_CONSOLE_CONSOLE_ASSETS_H_
