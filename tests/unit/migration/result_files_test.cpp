#include "migration/result_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace tandem::migration {
namespace {

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ResultFiles, EveryRowLandsInOneFileInInputOrderAndResumeAppends) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem_results_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ResultFiles::Sizes checkpoint;
  {
    ResultFiles files;
    ASSERT_TRUE(ResultFiles::Open(dir.string(), {"Name", "Email"}, nullptr, &files).ok());
    std::vector<RowResult> chunk;
    chunk.push_back(RowResult{3, {"Gamma", "g@x"}, true, "0013", "cus_3", "created", ""});
    chunk.push_back(RowResult{1, {"Alpha, Inc.", "a@x"}, true, "0011", "cus_1", "created", ""});
    chunk.push_back(RowResult{2, {"Beta"}, false, "", "", "", "Email: required, but empty"});
    ASSERT_TRUE(files.WriteChunk(chunk).ok());
    auto sizes = files.Flush();
    ASSERT_TRUE(sizes.ok());
    checkpoint = *sizes;
    // A chunk written after the checkpoint (then a crash) is cut away on resume.
    ASSERT_TRUE(
        files.WriteChunk({RowResult{4, {"Lost", "l@x"}, true, "0019", "cus_9", "created", ""}})
            .ok());
    ASSERT_TRUE(files.Flush().ok());
    EXPECT_EQ(files.succeeded(), 3);
    EXPECT_EQ(files.failed(), 1);
  }
  EXPECT_EQ(Slurp(dir / "success.csv"),
            "Name,Email,ROW,CRM ID,BILLING ID,STATUS\r\n"
            "\"Alpha, Inc.\",a@x,1,0011,cus_1,created\r\n"
            "Gamma,g@x,3,0013,cus_3,created\r\n"
            "Lost,l@x,4,0019,cus_9,created\r\n");
  EXPECT_EQ(Slurp(dir / "error.csv"),
            "Name,Email,ROW,ERROR\r\nBeta,,2,\"Email: required, but empty\"\r\n");
  {
    ResultFiles resumed;
    ASSERT_TRUE(ResultFiles::Open(dir.string(), {"Name", "Email"}, &checkpoint, &resumed).ok());
    ASSERT_TRUE(
        resumed.WriteChunk({RowResult{4, {"Delta", "d@x"}, true, "0014", "cus_4", "created", ""}})
            .ok());
  }
  const std::string success = Slurp(dir / "success.csv");
  EXPECT_EQ(success.find("Name,Email,ROW"), 0u);
  EXPECT_EQ(success.find("Name,Email,ROW", 1), std::string::npos);  // one header after resume
  EXPECT_NE(success.find("Delta,d@x,4,0014,cus_4,created\r\n"), std::string::npos);
  EXPECT_EQ(success.find("Lost"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Sdl, ParsesDataLoaderMappingsWithCommentsAndEscapes) {
  SdlMap m;
  ASSERT_TRUE(ParseSdl("#Mapping values\r\n#Mon Nov 24 2026\r\nACCOUNT NAME=Name\r\nE\\=MAIL="
                       "Email__c\r\n\"Customer - Direct\"=Type\r\n",
                       &m)
                  .ok());
  EXPECT_EQ(m.column_to_field.at("ACCOUNT NAME"), "Name");
  EXPECT_EQ(m.column_to_field.at("E=MAIL"), "Email__c");
  EXPECT_EQ(m.line_of_column.at("E=MAIL"), 4);
  ASSERT_EQ(m.constants.size(), 1u);
  EXPECT_EQ(m.constants[0].value, "Customer - Direct");
  EXPECT_EQ(m.constants[0].field, "Type");
  EXPECT_EQ(m.constants[0].line, 5);
  EXPECT_EQ(m.column_to_field.count("\"Customer - Direct\""), 0u) << "a constant is no column";
  SdlMap bad;
  EXPECT_NE(ParseSdl("Name\n", &bad).message().find("line 1"), std::string::npos);
  SdlMap dup;
  EXPECT_NE(ParseSdl("A=Name\nA=Phone\n", &dup).message().find("mapped twice"), std::string::npos);
}

}  // namespace
}  // namespace tandem::migration
