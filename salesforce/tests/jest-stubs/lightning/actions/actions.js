// lightning/actions for the LWC unit tests (sfdx-lwc-jest ships no stub of it): the event a
// screen quick action dispatches to close its window.
export const CloseActionScreenEventName = 'lightning__actionsclosescreen';

export class CloseActionScreenEvent extends CustomEvent {
    constructor() {
        super(CloseActionScreenEventName, { bubbles: true, composed: true });
    }
}
