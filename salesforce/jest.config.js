// LWC unit tests (sfdx-lwc-jest): the components under force-app, with Salesforce's base
// components stubbed and every Apex method mocked by the test.
const { jestConfig } = require('@salesforce/sfdx-lwc-jest/config');

module.exports = {
    ...jestConfig,
    testMatch: ['**/lwc/**/__tests__/**/*.test.js'],
    modulePathIgnorePatterns: ['<rootDir>/.localdevserver']
};
