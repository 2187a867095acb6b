// How many images a request's `Images` carries, read off the message
// without decoding a pixel: the one count behind the server's limits and
// metrics and the benchmarks' stand-in server.
#ifndef NNSERVE_COMMON_IMAGES_H_
#define NNSERVE_COMMON_IMAGES_H_

#include <cstdint>

#include "nnserve/v1/inference.pb.h"

namespace nn {

// For a tensor its first dimension (0 without a shape), for raw pixels
// bytes / `image_size` (whole images; `image_size` > 0 pixels an image), for
// encoded images the number of files, 0 when no encoding is set. What the
// request claims: whether the data fill the claim is the decoder's check.
int64_t CountImages(const nnserve::v1::Images& images, int64_t image_size);

}  // namespace nn

#endif  // NNSERVE_COMMON_IMAGES_H_
