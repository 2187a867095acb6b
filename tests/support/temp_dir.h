// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object goes away.
#ifndef NNSERVE_TESTS_SUPPORT_TEMP_DIR_H_
#define NNSERVE_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace nn::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative
  std::string Join(const std::string& relative) const;

 private:
  std::string path_;
};

// Writes `content` to `path`, creating parent directories.
void WriteFileOrDie(const std::string& path, const std::string& content);
std::string ReadFileOrDie(const std::string& path);
void MakeDirs(const std::string& path);

}  // namespace nn::testing

#endif  // NNSERVE_TESTS_SUPPORT_TEMP_DIR_H_
