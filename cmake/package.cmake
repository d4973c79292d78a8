# Packaging: `make deb` runs cpack -G DEB in the build tree. The package
# installs under /usr: the binary and its heal worker (/usr/libexec,
# where the daemon looks: ../libexec from its own directory), the man
# pages (gzipped, as Debian
# wants), and under /usr/share/doc/peerwatch the example config and units,
# the install scripts, copyright and changelog. Dependencies come from the
# binary's libraries (dpkg-shlibdeps).

set(PW_DOCDIR share/doc/peerwatch)
find_program(GZIP gzip REQUIRED)
foreach(page peerwatch.8 peers.conf.5)
	add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
	    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
	    COMMAND ${GZIP} -9 -n -c ${PROJECT_SOURCE_DIR}/man/${page}
	        > ${CMAKE_BINARY_DIR}/man/${page}.gz
	    DEPENDS ${PROJECT_SOURCE_DIR}/man/${page})
endforeach()
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/changelog.Debian.gz
    COMMAND ${GZIP} -9 -n -c ${PROJECT_SOURCE_DIR}/deploy/debian/changelog
        > ${CMAKE_BINARY_DIR}/changelog.Debian.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/deploy/debian/changelog)
add_custom_target(pw_package_files ALL DEPENDS
    ${CMAKE_BINARY_DIR}/man/peerwatch.8.gz
    ${CMAKE_BINARY_DIR}/man/peers.conf.5.gz
    ${CMAKE_BINARY_DIR}/changelog.Debian.gz)
install(FILES ${CMAKE_BINARY_DIR}/man/peerwatch.8.gz
    DESTINATION share/man/man8 COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_BINARY_DIR}/man/peers.conf.5.gz
    DESTINATION share/man/man5 COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES deploy/debian/copyright
    ${CMAKE_BINARY_DIR}/changelog.Debian.gz
    DESTINATION ${PW_DOCDIR} COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES deploy/peers.conf.example deploy/install-lib.sh
    DESTINATION ${PW_DOCDIR}/examples
    COMPONENT deb EXCLUDE_FROM_ALL)
install(DIRECTORY deploy/linux deploy/macos
    DESTINATION ${PW_DOCDIR}/examples COMPONENT deb EXCLUDE_FROM_ALL
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(TARGETS peerwatch DESTINATION sbin COMPONENT deb
    EXCLUDE_FROM_ALL)
install(TARGETS peerwatch-heal DESTINATION libexec COMPONENT deb
    EXCLUDE_FROM_ALL)
install(FILES deploy/debian/lintian-overrides RENAME peerwatch
    DESTINATION share/lintian/overrides COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME peerwatch)
set(CPACK_PACKAGE_VENDOR "peerwatch")
set(CPACK_PACKAGE_CONTACT "peerwatch maintainers <peerwatch@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer watchdog mesh with quorum and SFTP revive")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "peerwatch makes a few machines watch each other: signed UDP heartbeats,
quorum-confirmed failures, and revive over SSH/SFTP from a cascade of
backups of the configs it guards. Example systemd units and the install
scripts are in /usr/share/doc/peerwatch/examples.")
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL deb)
set(CPACK_DEBIAN_DEB_PACKAGE_NAME peerwatch)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/peerwatch/peerwatch")
set(CPACK_STRIP_FILES ON)
include(CPack)
