import { Combobox, createTheme, PasswordInput } from '@mantine/core';

/**
 * The app's Mantine theme, tuned so each input is found by its label alone:
 * - Select/MultiSelect dropdowns are unmounted while closed: a kept-mounted listbox is labelled by
 *   the field's label too, so "the field labelled Site" would name two elements.
 * - The show/hide button of a password input is not called "Toggle password visibility", which
 *   would also answer to "Password".
 */
export const theme = createTheme({
  components: {
    Combobox: Combobox.extend({ defaultProps: { keepMounted: false } }),
    PasswordInput: PasswordInput.extend({ defaultProps: { visibilityToggleButtonProps: { 'aria-label': 'Show or hide the characters' } } }),
  },
});
