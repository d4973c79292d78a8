# The sanitizer environment every test runs with. Apple's AddressSanitizer
# has no leak checker and aborts at start-up when asked for one.
if(APPLE)
	set(PW_ASAN_OPTIONS "abort_on_error=1")
else()
	set(PW_ASAN_OPTIONS "detect_leaks=1:abort_on_error=1")
endif()
set(PW_TEST_ENV
    "ASAN_OPTIONS=${PW_ASAN_OPTIONS};UBSAN_OPTIONS=print_stacktrace=1")

# pw_library(NAME SOURCES... LINK deps...): one static library per folder.
function(pw_library name)
	cmake_parse_arguments(A "" "" "SOURCES;LINK" ${ARGN})
	add_library(${name} STATIC ${A_SOURCES})
	target_link_libraries(${name} PUBLIC ${A_LINK}
	    PRIVATE pw_warnings pw_sanitizers)
endfunction()

# pw_add_unit_test(NAME SOURCE LINK deps...): one cmocka executable per
# module, labelled "unit", with a timeout and the sanitizer environment.
function(pw_add_unit_test name source)
	cmake_parse_arguments(A "" "" "LINK" ${ARGN})
	add_executable(${name} ${source})
	target_link_libraries(${name} PRIVATE ${A_LINK} PkgConfig::CMOCKA
	    pw_warnings pw_sanitizers)
	add_test(NAME ${name} COMMAND ${name})
	set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 60
	    ENVIRONMENT "${PW_TEST_ENV};PW_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
