# Homebrew formula for peerwatch (a local tap or a checkout):
#   brew install --HEAD --build-from-source deploy/macos/peerwatch.rb
# then, as root, the launchd jobs: sudo deploy/macos/install.sh --prefix "$(brew --prefix)"
# The dependencies are those of deploy/deps.sh (BREW_PKGS).
class Peerwatch < Formula
  desc "Peer watchdog mesh: signed heartbeats, quorum, revive over SFTP"
  homepage "https://github.com/peerwatch/peerwatch"
  license "ISC"
  # no release tarball yet: `brew install --HEAD` (edit the address to
  # your clone's; a file:// URL works for a local checkout)
  head "https://github.com/peerwatch/peerwatch.git", branch: "main"

  depends_on "cmake" => :build
  depends_on "cmocka" => :build
  depends_on "pkg-config" => :build
  depends_on "curl"
  depends_on "inih"
  depends_on "jansson"
  depends_on "libevent"
  depends_on "libssh"
  depends_on "libsodium"

  def install
    system "cmake", "-S", ".", "-B", "build", "-DPW_INTEGRATION=OFF",
           "-DBUILD_TESTING=OFF", *std_cmake_args
    system "cmake", "--build", "build"
    system "cmake", "--install", "build"
  end

  test do
    assert_match(/^peerwatch \d+\.\d+\.\d+ /, shell_output("#{sbin}/peerwatch version"))
  end
end
