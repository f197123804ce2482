// LWC unit tests (sfdx-lwc-jest): the components under force-app, with Salesforce's base
// components stubbed (lightning/actions by tests/jest-stubs) and every Apex method mocked by
// the test.
const { jestConfig } = require('@salesforce/sfdx-lwc-jest/config');

module.exports = {
    ...jestConfig,
    moduleNameMapper: {
        ...jestConfig.moduleNameMapper,
        '^lightning/actions$': '<rootDir>/tests/jest-stubs/lightning/actions/actions.js'
    },
    testMatch: ['**/lwc/**/__tests__/**/*.test.js'],
    modulePathIgnorePatterns: ['<rootDir>/.localdevserver']
};
